"""Policy Cliff: with two tied optimal arms an epsilon reward perturbation flips the argmax policy
(total variation 1) while the entropy-regularised softmax policy moves by at most eps / (2 tau)."""

import numpy as np
import pytest

from rewardlab.bandits.stability import (
    Softmax,
    argmax_policy,
    entropy_regularised_value,
    softmax_policy,
    softmax_tv_bound,
    total_variation,
)
from rewardlab.errors import ConfigError


@pytest.mark.parametrize("eps", [1e-6, 1e-3, 1e-2])
@pytest.mark.parametrize("tau", [0.05, 0.1, 1.0])
def test_two_tied_arms_argmax_flips_softmax_moves_order_eps_over_tau(eps, tau):
    q = np.array([1.0, 1.0])  # two tied optimal arms
    q_perturbed = q + np.array([0.0, eps])
    # argmax: all mass jumps from arm 0 to arm 1, however small eps is
    assert total_variation(argmax_policy(q), argmax_policy(q_perturbed)) == 1.0
    moved = total_variation(softmax_policy(q, tau), softmax_policy(q_perturbed, tau))
    assert 0 < moved <= softmax_tv_bound(eps, tau)
    # O(eps / tau) and no smaller: the arms' shares are sigmoid(-+eps / tau), TV = tanh(eps / 2 tau) / 2
    assert moved == pytest.approx(0.5 * np.tanh(eps / (2 * tau)), rel=1e-6)
    assert moved >= 0.2 * eps / tau
    # with a worse third arm in play the bound still holds
    q3 = np.array([1.0, 1.0, 0.2])
    moved3 = total_variation(softmax_policy(q3, tau), softmax_policy(q3 + [0.0, eps, 0.0], tau))
    assert total_variation(argmax_policy(q3), argmax_policy(q3 + [0.0, eps, 0.0])) == 1.0
    assert 0 < moved3 <= softmax_tv_bound(eps, tau)


def test_softmax_bound_holds_on_random_perturbations():
    rng = np.random.default_rng(0)
    for _ in range(500):
        k = int(rng.integers(2, 8))
        q = rng.normal(size=k)
        dq = rng.uniform(-1, 1, size=k) * rng.uniform(0, 0.5)
        tau = float(rng.uniform(0.05, 2.0))
        moved = total_variation(softmax_policy(q, tau), softmax_policy(q + dq, tau))
        assert moved <= softmax_tv_bound(np.abs(dq).max(), tau) + 1e-12


def test_softmax_is_the_entropy_regularised_optimum():
    rng = np.random.default_rng(1)
    q, tau = np.array([0.3, 0.9, 0.9, -0.4]), 0.2
    best = entropy_regularised_value(softmax_policy(q, tau), q, tau)
    others = rng.dirichlet(np.ones(4), size=2000)
    assert (entropy_regularised_value(others, q, tau) < best).all()
    # and the argmax policy is the optimum of the unregularised objective only
    assert entropy_regularised_value(argmax_policy(q), q, tau) < best


def test_softmax_bandit_splits_between_tied_arms_and_learns_the_best():
    from rewardlab.bandits.base import simulate
    from rewardlab.bandits.envs import BernoulliBandit

    rng = np.random.default_rng(0)
    env = BernoulliBandit(np.array([0.8, 0.8, 0.2, 0.1]), n_runs=200, seed=1)
    policy = Softmax(4, 200, rng, tau=0.1)
    simulate(env, policy, 300)
    share = policy.counts / policy.counts.sum(1, keepdims=True)
    assert share[:, :2].sum(1).mean() > 0.85  # mass on the two best arms
    assert abs(share[:, 0].mean() - share[:, 1].mean()) < 0.1  # and shared between them


def test_bad_temperature_is_named():
    with pytest.raises(ConfigError, match="tau.*> 0"):
        softmax_policy(np.zeros(2), 0.0)
    with pytest.raises(ConfigError, match="tau.*> 0"):
        Softmax(2, 1, np.random.default_rng(0), tau=-1)
