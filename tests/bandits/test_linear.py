"""Linear contextual bandits: ridge algebra, the env's sparsity/misspecification, LinUCB > eps-greedy."""

import numpy as np
import pytest

from rewardlab.bandits.base import simulate
from rewardlab.bandits.envs import LinearBandit
from rewardlab.bandits.linear import LinearThompson, LinUCB, linucb_scores, sherman_morrison_update
from rewardlab.bandits.stochastic import EpsilonGreedy
from rewardlab.errors import ConfigError


def test_sherman_morrison_equals_direct_inverse():
    rng = np.random.default_rng(0)
    a = np.eye(4) * 2.0
    a_inv = np.linalg.inv(a)
    for _ in range(5):
        x = rng.standard_normal(4)
        a += np.outer(x, x)
        a_inv = sherman_morrison_update(a_inv, x)
    np.testing.assert_allclose(a_inv, np.linalg.inv(a), atol=1e-12)


def test_linucb_score_matches_hand_computation():
    theta = np.array([[[1.0, 0.0], [1.0, 0.0]]])  # (R=1, K=2, d=2)
    a_inv = np.broadcast_to(np.diag([0.5, 0.25]), (1, 2, 2, 2))
    x = np.array([[[1.0, 0.0], [0.0, 2.0]]])
    scores = linucb_scores(theta, a_inv, x, alpha=2.0)
    # arm 0: 1 + 2 sqrt(0.5); arm 1: 0 + 2 sqrt(4 * 0.25)
    np.testing.assert_allclose(scores, [[1 + 2 * np.sqrt(0.5), 2.0]])


def test_sparse_theta_has_exactly_s_nonzeros_and_unit_norm():
    env = LinearBandit(10, 8, sparsity=2, instance_seed=3)
    assert np.count_nonzero(env.theta) == 2
    assert np.linalg.norm(env.theta) == pytest.approx(1.0)


def test_misspecification_is_bounded_by_epsilon_and_nonzero():
    env = LinearBandit(10, 5, misspecification=0.05, n_runs=50, seed=1)
    x = env.observe()
    linear = np.einsum("rkd,d->rk", x, env.theta[0])
    gap = env.expected_rewards(x) - linear
    assert np.abs(gap).max() <= 0.05 + 1e-12
    assert np.abs(gap).max() > 0.03  # the misspecification really is there


def test_linear_env_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match="sparsity must be in \\[0, dim=5\\].*got 7"):
        LinearBandit(10, 5, sparsity=7)
    with pytest.raises(ConfigError, match="'blocky'"):
        LinearBandit(10, 5, linear_model="blocky")


def test_context_of_wrong_dimension_is_an_error_naming_the_shape():
    policy = LinUCB(4, 3, 1, np.random.default_rng(0))
    with pytest.raises(ConfigError, match=r"\(1, 4, 5\).*dim=3"):
        policy.select(np.zeros((1, 4, 5)))


@pytest.mark.parametrize("model", ["shared", "disjoint"])
def test_linucb_beats_epsilon_greedy(model):
    runs, rounds = 8, 3000
    env = LinearBandit(10, 5, linear_model=model, n_runs=runs, seed=0)
    linucb = LinUCB(10, 5, runs, np.random.default_rng(1), alpha=1.0, disjoint=model == "disjoint")
    _, r_lin = simulate(env, linucb, rounds)
    env = LinearBandit(10, 5, linear_model=model, n_runs=runs, seed=0)
    _, r_eps = simulate(env, EpsilonGreedy(10, runs, np.random.default_rng(1), epsilon=0.1), rounds)
    lin, eps = r_lin.sum(axis=1), r_eps.sum(axis=1)
    assert np.all(lin < eps), (lin, eps)
    assert lin.mean() < 0.5 * eps.mean()


def test_linear_thompson_learns_theta():
    env = LinearBandit(10, 5, n_runs=4, seed=2)
    policy = LinearThompson(10, 5, 4, np.random.default_rng(3), v=0.1)
    _, regret = simulate(env, policy, 2000)
    assert regret[:, -500:].mean() < 0.2 * regret[:, :100].mean()
    cos = policy.theta_hat()[:, 0] @ env.theta[0] / np.linalg.norm(policy.theta_hat()[:, 0], axis=1)
    assert np.all(cos > 0.99)
