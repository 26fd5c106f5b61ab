"""Tabular TD control: targets by hand, Sutton & Barto Example 6.6 on CliffWalking-v1, exact resume."""

import copy

import numpy as np
import pytest

from rewardlab.config import build_config
from rewardlab.errors import ConfigError
from rewardlab.tabular.td import (
    ExpectedSarsa,
    QLearning,
    Sarsa,
    TabularConfig,
    epsilon_greedy_probs,
    td_target,
)

Q = np.array([[0.0, 0.0, 0.0], [1.0, 4.0, 2.0]])


def test_td_targets_by_hand():
    assert td_target("qlearning", Q, -1.0, 1, 0, False, 0.9, 0.1) == pytest.approx(-1 + 0.9 * 4)
    assert td_target("sarsa", Q, -1.0, 1, 2, False, 0.9, 0.1) == pytest.approx(-1 + 0.9 * 2)
    # expected SARSA: pi = (0.1/3, 0.1/3 + 0.9, 0.1/3) -> E[Q] = 0.1/3 * 7 + 0.9 * 4
    assert td_target("expected-sarsa", Q, -1.0, 1, 0, False, 0.9, 0.1) == pytest.approx(
        -1 + 0.9 * (0.1 / 3 * 7 + 0.9 * 4))
    assert td_target("sarsa", Q, 5.0, 1, 2, True, 0.9, 0.1) == 5.0  # no bootstrap after termination


def test_epsilon_greedy_probs_share_ties():
    np.testing.assert_allclose(epsilon_greedy_probs(np.array([1.0, 1.0, 0.0]), 0.3), [0.45, 0.45, 0.1])


def _train(cls, seed, *sets):
    config = build_config(TabularConfig, sets=[f"seed={seed}", *sets])
    algo = cls(config)
    returns = []
    while algo.global_step < config.total_steps:
        returns.append(algo.step()["episode_return_mean"])
    return algo, returns


def test_sarsa_safe_path_vs_qlearning_optimal_path_on_cliff_walking():
    """Sutton & Barto Example 6.6, epsilon = 0.1, alpha = 0.5: greedy SARSA takes the safe path
    (about -17), greedy Q-learning the optimal path along the cliff (-13), and SARSA's online
    return during learning is higher."""
    for seed in range(3):
        sarsa, sarsa_online = _train(Sarsa, seed)
        qlearn, q_online = _train(QLearning, seed)
        assert qlearn.evaluate(1)["mean_return"] == -13.0
        sarsa_greedy = sarsa.evaluate(1)["mean_return"]
        assert -17.0 <= sarsa_greedy <= -15.0  # a path at least one row away from the cliff
        half = len(sarsa_online) // 2
        assert np.mean(sarsa_online[half:]) > np.mean(q_online[half:]) + 10


def test_expected_sarsa_learns_cliff_walking():
    algo, online = _train(ExpectedSarsa, 0)
    assert algo.evaluate(1)["mean_return"] >= -17.0
    assert np.mean(online[-10:]) > -40


def test_resume_is_bit_identical():
    config = build_config(TabularConfig, sets=["env=FrozenLake-v1", "episodes_per_step=20", "total_steps=3000"])
    straight = Sarsa(config)
    reference = [straight.step() for _ in range(4)]
    first = Sarsa(config)
    head = [first.step(), first.step()]
    first.evaluate(2)  # evaluating must not shift the training streams
    resumed = Sarsa(config)
    resumed.load_state_dict(copy.deepcopy(first.state_dict()))
    assert head + [resumed.step(), resumed.step()] == reference
    np.testing.assert_array_equal(resumed.q, straight.q)


def test_step_stops_at_the_budget():
    config = build_config(TabularConfig, sets=["total_steps=50", "episodes_per_step=100"])
    algo = QLearning(config)
    algo.step()
    assert 50 <= algo.global_step < 50 + config.max_episode_steps


def test_non_discrete_env_is_an_error_naming_the_spaces():
    with pytest.raises(ConfigError, match="'CartPole-v1' has Box"):
        QLearning(build_config(TabularConfig, sets=["env=CartPole-v1"]))


def test_bad_hyperparameters_name_the_value():
    with pytest.raises(ConfigError, match=r"config key 'alpha': 1.5 is out of range; valid values are in \(0, 1\]"):
        build_config(TabularConfig, sets=["alpha=1.5"])


def test_cli_train_sarsa_cliff_walking(tmp_path):
    import json

    from rewardlab.cli import main

    out = tmp_path / "sarsa"
    assert main(["train", "sarsa", "--env", "CliffWalking-v1", "--total-steps", "20000", "--out", str(out)]) == 0
    result = json.loads((out / "eval.json").read_text())
    assert -17.0 <= result["mean_return"] <= -15.0


@pytest.mark.slow
def test_qlearning_solves_taxi_and_frozen_lake():
    taxi, _ = _train(QLearning, 0, "env=Taxi-v4", "alpha=0.5", "gamma=0.99", "total_steps=150000",
                     "episodes_per_step=50")
    assert taxi.evaluate(20)["mean_return"] > 5  # optimal greedy returns are about 8 on average
    lake, _ = _train(QLearning, 0, "env=FrozenLake-v1", "alpha=0.1", "gamma=0.99", "total_steps=60000",
                     "episodes_per_step=100")
    assert lake.evaluate(100)["mean_return"] > 0.55  # slippery 4x4: the optimal policy succeeds ~74 %
