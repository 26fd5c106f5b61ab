"""SEQUOIA: the MILP argmax of a ReLU Q-network equals brute force; infeasible constraints fail loudly."""

import math

import numpy as np
import pytest
import torch

from rewardlab.bandits.restless import RestlessBandit, two_type_instance
from rewardlab.bandits.sequoia import (
    QNetwork,
    Sequoia,
    brute_force_argmax,
    feasible_actions,
    milp_argmax,
    q_values_numpy,
)
from rewardlab.errors import RewardlabError


def test_numpy_forward_matches_torch():
    torch.manual_seed(0)
    net = QNetwork(5)
    a = torch.tensor([[1.0, 0, 1, 0, 0]])
    s = torch.tensor([[0.0, 1, 1, 0, 1]])
    np.testing.assert_allclose(q_values_numpy(net.numpy_layers(), a.numpy(), s.numpy()[0]),
                               net(a, s).detach().numpy(), rtol=1e-5)


def test_feasible_set_size():
    assert len(feasible_actions(8, 3)) == sum(math.comb(8, j) for j in range(4))
    exactly_two = feasible_actions(8, 3, [(np.ones(8), 2, 2)])
    assert len(exactly_two) == math.comb(8, 2) and np.all(exactly_two.sum(axis=1) == 2)


@pytest.mark.parametrize("seed", range(4))
def test_milp_argmax_equals_brute_force_on_8_arms(seed):
    torch.manual_seed(seed)
    layers = QNetwork(8).numpy_layers()  # the paper's [16, 32] hidden sizes
    state = np.random.default_rng(seed).integers(2, size=8).astype(float)
    a_milp, q_milp = milp_argmax(layers, state, 8, 3)
    a_bf, q_bf = brute_force_argmax(layers, state, 8, 3)
    assert q_milp == pytest.approx(q_bf, abs=1e-9)
    assert a_milp.sum() <= 3 and set(np.unique(a_milp)) <= {0.0, 1.0}
    if abs(np.sort(q_values_numpy(layers, feasible_actions(8, 3), state))[-2] - q_bf) > 1e-9:
        np.testing.assert_array_equal(a_milp, a_bf)  # unique maximiser: the same action


def test_milp_respects_extra_constraints():
    torch.manual_seed(1)
    layers = QNetwork(8).numpy_layers()
    state = np.zeros(8)
    cons = [(np.ones(8), 3, np.inf), (np.eye(8)[0], 1, 1)]  # at least 3 active, arm 0 active
    a, q = milp_argmax(layers, state, 8, 3, cons)
    _, q_bf = brute_force_argmax(layers, state, 8, 3, cons)
    assert a.sum() == 3 and a[0] == 1 and q == pytest.approx(q_bf, abs=1e-9)


def test_infeasible_milp_names_the_constraint_set():
    layers = QNetwork(8).numpy_layers()
    with pytest.raises(RewardlabError, match=r"infeasible.*sum\(a\) <= 3.*5 <= \[1\.0"):
        milp_argmax(layers, np.zeros(8), 8, 3, [(np.ones(8), 5, np.inf)])
    with pytest.raises(RewardlabError, match=r"no action satisfies the constraints \{sum\(a\) <= 3"):
        feasible_actions(8, 3, [(np.ones(8), 5, np.inf)])


def test_sequoia_trains_and_its_state_round_trips():
    p, r = two_type_instance(6)
    env = RestlessBandit(p, r, budget=2, seed=0)
    agent = Sequoia(env, np.random.default_rng(0), action_solver="enumerate", warm_start_updates=50)
    for _ in range(60):
        states = env.observe()
        active = agent.select(states)
        reward, _ = env.pull(active)
        agent.update(active, reward, states)
    assert np.isfinite(agent.last_loss) and agent.parameters_finite() is None
    clone = Sequoia(env, np.random.default_rng(5), action_solver="enumerate", warm_start_updates=0)
    clone.load_state_dict(agent.state_dict())
    s = env.observe()
    np.testing.assert_array_equal(clone.greedy(s), agent.greedy(s))
    assert clone.rng.random() == agent.rng.random()
