"""ORPO's occupancy-measure penalty: the divergence terms by hand and the discriminator's density ratio."""

import math

import gymnasium as gym
import numpy as np
import pytest

from rewardlab.errors import ConfigError
from rewardlab.rewards import get
from rewardlab.rewards.learned import Transitions
from rewardlab.rewards.learned.adversarial import save_demonstrations
from rewardlab.rewards.learned.orpo import occupancy_penalty


def test_divergence_terms_by_hand():
    d = np.log(np.array([1.0, 2.0, 3.0]))  # occupancy ratios 1, 2, 3
    assert occupancy_penalty(d, "kl") == pytest.approx([0.0, math.log(2), math.log(3)])
    assert occupancy_penalty(d, "chi2") == pytest.approx([0.0, 1.0, 2.0])
    assert occupancy_penalty(d, "tv").tolist() == [0.0, 1.0, 1.0]
    # sqrt_chi2 divides by sqrt of the 1 %-trimmed mean of exp(d) - 1: with 199 ones and one outlier
    # of 1e6 the trimmed mean drops the outlier (mean 1), the plain mean would be about 5000
    chi = np.array([1.0] * 199 + [1e6])
    assert occupancy_penalty(np.log1p(chi), "sqrt_chi2") == pytest.approx(chi)
    # a ratio that overflows is dropped (0), as in the paper's code
    assert occupancy_penalty(np.array([1000.0, 0.0]), "chi2").tolist() == [0.0, 0.0]


def test_discriminator_learns_the_log_occupancy_ratio_of_two_gaussians(tmp_path):
    # current policy visits x ~ N(1, 1), the base policy x ~ N(0, 1): log ratio = x - 1/2
    rng = np.random.default_rng(0)
    base = rng.normal(0.0, 1.0, size=(4000, 1)).astype(np.float32)
    save_demonstrations(tmp_path / "base.npz", base, np.zeros(4000, dtype=np.int64))
    space = gym.spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float32)
    orpo = get("orpo", observation_space=space, action_space=gym.spaces.Discrete(1),
               base_transitions=str(tmp_path / "base.npz"), hidden_sizes=[32, 32], batch_size=512,
               updates_per_iteration=10, learning_rate=3e-3, divergence="kl", coef=1.0)  # fmt: skip
    current = rng.normal(1.0, 1.0, size=(4000, 1)).astype(np.float32)
    batch = Transitions(current, np.zeros(4000, dtype=np.int64), current, np.zeros(4000, dtype=bool))
    for _ in range(30):
        metrics = orpo.update(batch)
    grid = np.linspace(-1.5, 2.5, 41, dtype=np.float32)[:, None]
    probe = Transitions(grid, np.zeros(41, dtype=np.int64), grid, np.zeros(41, dtype=bool))
    penalty = orpo.score(probe)  # = -1 * d(x) with the kl term
    assert np.corrcoef(-penalty, grid[:, 0] - 0.5)[0, 1] > 0.95
    assert (
        0.55 < metrics["acc_policy"] < 0.8 and 0.55 < metrics["acc_base"] < 0.8
    )  # overlapping: not separable


def test_unknown_divergence_is_named(tmp_path):
    save_demonstrations(tmp_path / "b.npz", np.zeros((2, 1)), np.zeros(2, dtype=np.int64))
    space = gym.spaces.Box(-1, 1, shape=(1,))
    with pytest.raises(ConfigError, match="divergence 'js' is not one of kl, chi2, sqrt_chi2, tv"):
        get("orpo", observation_space=space, action_space=gym.spaces.Discrete(1),
            base_transitions=str(tmp_path / "b.npz"), divergence="js")  # fmt: skip
