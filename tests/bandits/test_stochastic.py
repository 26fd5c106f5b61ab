"""K-armed policies: index formulas against hand-computed values, and the regret claims of issue 5."""

import math

import numpy as np
import pytest

from rewardlab.bandits.base import simulate
from rewardlab.bandits.envs import BernoulliBandit, GaussianBandit
from rewardlab.bandits.stochastic import (
    KLUCB,
    UCB1,
    BetaThompson,
    EpsilonGreedy,
    GaussianThompson,
    kl_bernoulli,
    kl_ucb_index,
    ucb1_index,
)
from rewardlab.errors import ConfigError

#: a fixed 10-armed Bernoulli instance (gaps 0.05 .. 0.5)
MEANS = [0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4]


def test_ucb1_index_matches_hand_computation():
    sums = np.array([[3.0, 1.0, 0.0]])
    counts = np.array([[4.0, 2.0, 0.0]])
    index = ucb1_index(sums, counts, t=10)
    assert index[0, 0] == pytest.approx(0.75 + math.sqrt(2 * math.log(10) / 4))
    assert index[0, 1] == pytest.approx(0.5 + math.sqrt(2 * math.log(10) / 2))
    assert index[0, 2] == np.inf  # unplayed arms first


def test_kl_ucb_index_solves_its_defining_equation():
    sums = np.array([[3.0, 0.0, 9.0]])
    counts = np.array([[10.0, 5.0, 10.0]])
    q = kl_ucb_index(sums, counts, t=100)
    mean = sums / counts
    # n * kl(mean, q) = ln t at the bound, and q lies above the mean
    np.testing.assert_allclose(counts * kl_bernoulli(mean, q), math.log(100), rtol=1e-6)
    assert np.all(q > mean)
    assert kl_ucb_index(np.array([[0.0]]), np.array([[0.0]]), t=5)[0, 0] == np.inf


def test_kl_ucb_is_tighter_than_ucb1():
    sums, counts = np.array([[5.0, 50.0]]), np.array([[10.0, 100.0]])
    assert np.all(kl_ucb_index(sums, counts, 1000) < ucb1_index(sums, counts, 1000))


def test_epsilon_greedy_explores_at_rate_epsilon():
    policy = EpsilonGreedy(4, 20_000, np.random.default_rng(0), epsilon=0.2)
    policy.sums[:, 2], policy.counts[:] = 1.0, 1.0  # arm 2 is greedy everywhere
    arms = policy.select()
    # greedy arm with prob 1 - eps + eps/K = 0.85
    assert abs(np.mean(arms == 2) - 0.85) < 0.01


def test_bernoulli_env_rejects_means_outside_unit_interval():
    with pytest.raises(ConfigError, match=r"1\.5"):
        BernoulliBandit([0.2, 1.5])


def test_pseudo_regret_is_exact_gap():
    env = BernoulliBandit([0.2, 0.7, 0.5], n_runs=3, seed=0)
    _, regret = env.pull(np.array([0, 1, 2]))
    np.testing.assert_allclose(regret, [0.5, 0.0, 0.2])


def _regret(policy_cls, rounds, runs=10, **kw):
    env = BernoulliBandit(MEANS, n_runs=runs, seed=123)
    policy = policy_cls(len(MEANS), runs, np.random.default_rng(7), **kw)
    _, regret = simulate(env, policy, rounds)
    return regret.cumsum(axis=1)


@pytest.mark.slow
def test_regret_ordering_and_logarithmic_growth_on_fixed_bernoulli_instance():
    ucb = _regret(UCB1, 100_000)
    ts = _regret(BetaThompson, 100_000)
    eps = _regret(EpsilonGreedy, 100_000, epsilon=0.1)
    final = {name: r[:, -1].mean() for name, r in [("ts", ts), ("ucb", ucb), ("eps", eps)]}
    assert final["ts"] < final["ucb"] < final["eps"], final
    for r in (ucb, ts):  # log growth: ten times the rounds, far less than ten times the regret
        ratio = r[:, 99_999].mean() / r[:, 9_999].mean()
        assert ratio < 3.0, ratio
    # epsilon-greedy keeps paying eps * mean gap per round: linear growth
    assert eps[:, 99_999].mean() / eps[:, 9_999].mean() > 5.0


def test_thompson_and_kl_ucb_beat_ucb1_at_10k_rounds():
    ucb = _regret(UCB1, 10_000)[:, -1].mean()
    assert _regret(BetaThompson, 10_000)[:, -1].mean() < ucb
    assert _regret(KLUCB, 10_000)[:, -1].mean() < ucb


def test_gaussian_thompson_finds_best_arm():
    env = GaussianBandit([0.0, 0.5, 1.0], noise_std=1.0, n_runs=8, seed=1)
    policy = GaussianThompson(3, 8, np.random.default_rng(2), noise_std=1.0)
    _, regret = simulate(env, policy, 3000)
    assert regret[:, -500:].mean() < 0.05  # late rounds almost always pull arm 2
    assert np.all(policy.greedy() == 2)
