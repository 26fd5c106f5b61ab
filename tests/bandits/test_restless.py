"""Restless bandits: validation, Whittle indices (indifference property), Whittle > myopic."""

import numpy as np
import pytest

from rewardlab.bandits.base import simulate
from rewardlab.bandits.restless import (
    Myopic,
    RestlessBandit,
    WhittleIndex,
    myopic_gains,
    optimal_average_reward,
    solve_two_action_mdps,
    top_k_mask,
    two_type_instance,
    whittle_indices,
)
from rewardlab.errors import ConfigError


def test_budget_larger_than_arms_is_an_error_naming_both():
    p, r = two_type_instance(4)
    with pytest.raises(ConfigError, match=r"budget=5 .*number of arms \(4\)"):
        RestlessBandit(p, r, budget=5)


def test_non_stochastic_matrix_is_an_error_naming_arm_action_row_and_sum():
    p, r = two_type_instance(4)
    p[2, 1, 0] = [0.5, 0.7]
    with pytest.raises(ConfigError, match=r"arm 2, action active.*row 0.*sums to 1\.2"):
        RestlessBandit(p, r, budget=1)


def test_activating_more_than_budget_is_an_error():
    p, r = two_type_instance(4)
    env = RestlessBandit(p, r, budget=1)
    with pytest.raises(ConfigError, match="2 arms activated but budget=1"):
        env.pull(np.array([[True, True, False, False]]))


def test_transitions_follow_the_matrices():
    p, r = two_type_instance(2)  # arm 0 "flash": active from bad -> good w.p. 0.9
    env = RestlessBandit(p, r, budget=1, n_runs=20_000, seed=0)
    env.states[:] = 0
    env.pull(np.tile([True, False], (20_000, 1)))
    assert abs(env.states[:, 0].mean() - 0.9) < 0.01
    assert env.states[:, 1].max() == 0  # arm 1 passive in bad state stays bad (prob. 1)


def test_whittle_index_makes_both_actions_equally_good():
    p, r = two_type_instance(2)
    w = whittle_indices(p, r, gamma=0.95)
    for arm in range(2):
        for s in range(2):
            q = solve_two_action_mdps(p[arm:arm + 1], r[arm:arm + 1], np.array([w[arm, s]]), 0.95)
            assert q[0, 1, s] == pytest.approx(q[0, 0, s], abs=1e-6)
    # the lasting arm's bad state outranks the flash arm's although its one-step gain is smaller
    assert w[1, 0] > w[0, 0]
    g = myopic_gains(p, r)
    assert g[0, 0] == pytest.approx(0.9) and g[1, 0] == pytest.approx(0.5)


def test_identical_actions_give_zero_index():
    p = np.tile(np.array([[0.7, 0.3], [0.4, 0.6]]), (1, 2, 1, 1))
    w = whittle_indices(p, np.array([[0.0, 1.0]]), gamma=0.9)
    np.testing.assert_allclose(w, 0.0, atol=1e-9)


def test_top_k_mask_picks_the_largest():
    mask = top_k_mask(np.array([[0.1, 0.9, 0.5, 0.7]]), 2, np.random.default_rng(0))
    assert mask.tolist() == [[False, True, False, True]]


def test_whittle_beats_myopic_where_they_differ():
    p, r = two_type_instance(10)
    results = {}
    for cls in (WhittleIndex, Myopic):
        env = RestlessBandit(p, r, budget=3, n_runs=8, seed=0)
        rewards, _ = simulate(env, cls(env, np.random.default_rng(1)), 2000)
        results[cls.__name__] = rewards[:, 200:].mean(axis=1)
    assert np.all(results["WhittleIndex"] > results["Myopic"]), results
    assert results["WhittleIndex"].mean() > results["Myopic"].mean() + 0.2


def test_oracle_gain_of_an_uncontrolled_chain_is_its_stationary_reward():
    chain = np.array([[0.9, 0.1], [0.2, 0.8]])
    p = np.stack([chain, chain])[None]  # one arm, both actions alike
    # stationary distribution (2/3, 1/3): gain = 1/3
    assert optimal_average_reward(p, np.array([[0.0, 1.0]]), budget=1) == pytest.approx(1 / 3, abs=1e-8)


def test_whittle_is_near_optimal_where_myopic_is_not():
    p, r = two_type_instance(4)
    optimum = optimal_average_reward(p, r, budget=1)
    results = {}
    for cls in (WhittleIndex, Myopic):
        env = RestlessBandit(p, r, budget=1, n_runs=16, seed=0)
        rewards, _ = simulate(env, cls(env, np.random.default_rng(0)), 4000)
        results[cls.__name__] = rewards[:, 400:].mean()
    assert results["WhittleIndex"] == pytest.approx(optimum, rel=0.01)
    assert results["Myopic"] < 0.85 * optimum


def test_oracle_refuses_large_instances():
    p, r = two_type_instance(10)
    with pytest.raises(ConfigError, match="2\\^10 = 1024 joint states exceed max_joint_states=256"):
        optimal_average_reward(p, r, budget=3)
