"""Occupancy-measure regularisation against reward hacking (ORPO; Laidlaw et al., "Correlated
Proxies", arXiv 2403.03185) as a transition reward added to the (proxy) environment reward.

A discriminator is trained each iteration, before scoring, to tell the *current* policy's
transitions (label 1) from a *base* (safe) policy's (label 0): ``mean softplus(-d)`` over current
plus ``mean softplus(d)`` over base, whose optimum is ``d(s, a) = log(mu_pi(s, a) / mu_base(s, a))``.
The policy then gets ``clip(-coef * D(d), -clip, clip)`` on top of the proxy reward, with the
per-sample divergence term D of the paper's code (cassidylaidlaw/orpo,
``occupancy_measures/agents/orpo.py``):

* ``kl``: ``D = d``;
* ``chi2``: ``D = exp(d) - 1``;
* ``sqrt_chi2``: ``D = (exp(d) - 1) / sqrt(chi2_hat)``, ``chi2_hat`` the 1 %-trimmed mean of the
  batch's ``exp(d) - 1`` (unnormalised when ``chi2_hat <= 0``);
* ``tv``: ``D = sign(d)``.

Non-finite values of D are set to 0, as in the paper's code. The base policy's transitions come
from an ``.npz`` file (``obs``, ``actions``), e.g. written by
:func:`rewardlab.rewards.learned.adversarial.save_demonstrations` from a PPO policy trained on
the true reward.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rewardlab.errors import ConfigError
from rewardlab.rewards.learned.adversarial import AdversarialReward
from rewardlab.rewards.learned.base import Transitions

DIVERGENCES = ("kl", "chi2", "sqrt_chi2", "tv")


def trimmed_mean(values: np.ndarray, proportion: float = 0.01) -> float:
    """Mean after dropping ``proportion`` of the values at each end (scipy's ``trim_mean``)."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    cut = int(proportion * len(values))
    return float(values[cut : len(values) - cut].mean())


def occupancy_penalty(log_ratio: np.ndarray, divergence: str) -> np.ndarray:
    """The per-sample term D of the divergence from the log occupancy ratio ``d`` (see module doc)."""
    if divergence == "kl":
        out = log_ratio.astype(np.float64)
    elif divergence == "tv":
        out = np.sign(log_ratio).astype(np.float64)
    else:
        with np.errstate(over="ignore"):
            out = np.expm1(log_ratio.astype(np.float64))
        if divergence == "sqrt_chi2":
            chi2 = trimmed_mean(out[np.isfinite(out)], 0.01) if np.isfinite(out).any() else 0.0
            if chi2 > 0:
                out = out / np.sqrt(chi2)
        elif divergence != "chi2":
            raise ConfigError(f"orpo: divergence {divergence!r} is not one of {', '.join(DIVERGENCES)}")
    return np.where(np.isfinite(out), out, 0.0)


class ORPO(AdversarialReward):
    name = "orpo"
    gamma = None  # added to the environment's (proxy) reward
    reference_key = "base_transitions"

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        base_transitions: str = "",
        coef: float = 0.05,
        divergence: str = "sqrt_chi2",
        reward_clip: float = 1000.0,
        num_envs: int = 1,
        seed: int = 0,
        name: str | None = None,
        update_order: str | None = None,
        hidden_sizes: tuple[int, ...] = (256, 256),
        learning_rate: float = 3e-4,
        updates_per_iteration: int = 8,
        batch_size: int = 128,
    ) -> None:
        if divergence not in DIVERGENCES:
            raise ConfigError(
                f"reward 'orpo': divergence {divergence!r} is not one of {', '.join(DIVERGENCES)}"
            )
        self.penalty_coef, self.divergence, self.reward_clip = float(coef), divergence, float(reward_clip)
        super().__init__(
            observation_space, action_space, base_transitions, num_envs=num_envs, seed=seed, name=name,
            update_order=update_order, hidden_sizes=hidden_sizes, learning_rate=learning_rate,
            updates_per_iteration=updates_per_iteration, batch_size=batch_size, allow_variable_horizon=True,
        )  # fmt: skip

    def score(self, batch: Transitions) -> np.ndarray:
        with torch.no_grad():
            log_ratio = self.logits(batch.obs, batch.action).double().numpy()
        return np.clip(
            -self.penalty_coef * occupancy_penalty(log_ratio, self.divergence),
            -self.reward_clip,
            self.reward_clip,
        )

    def update(self, batch: Transitions) -> dict[str, float]:
        m = self.train_discriminator(batch, reference_positive=False)
        return {"loss": m["loss"], "acc_policy": m["acc_policy"], "acc_base": m["acc_reference"]}
