"""Generative Adversarial Imitation Learning (Ho & Ermon 2016, arXiv:1606.03476) as a transition reward.

A discriminator ``d(s, a)`` (a logit; expert = 1, :mod:`rewardlab.rewards.learned.adversarial`) is
trained to tell the expert's transitions from the current policy's, and the policy is paid
``softplus(d) = -log(1 - D)`` (imitation's ``RewardNetFromDiscriminatorLogit``, always positive).
As in imitation's ``AdversarialTrainer``, each iteration trains the discriminator on the new
rollout *before* scoring it, and logs the accuracy on each side (``acc_expert``, ``acc_policy``).

In PPO the reward is its own stream (``gamma`` 0.99, its own value head); set ``ext_coef = 0`` so
the environment's reward is not used, and use a fixed-horizon env (``cartpole-fixed-horizon``).
Demonstrations are an ``.npz`` file with ``obs`` and ``actions`` (:func:`save_demonstrations`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rewardlab.rewards.learned.adversarial import AdversarialReward
from rewardlab.rewards.learned.base import Transitions


class GAIL(AdversarialReward):
    name = "gail"
    gamma = 0.99
    episodic = True

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        demonstrations: str = "",
        num_envs: int = 1,
        seed: int = 0,
        name: str | None = None,
        update_order: str | None = None,
        hidden_sizes: tuple[int, ...] = (32, 32),
        learning_rate: float = 3e-4,
        updates_per_iteration: int = 8,
        batch_size: int = 1024,
        gamma: float = 0.99,
        coef: float = 1.0,
        allow_variable_horizon: bool = False,
    ) -> None:
        self.gamma, self.coef = float(gamma), float(coef)
        super().__init__(
            observation_space, action_space, demonstrations, num_envs=num_envs, seed=seed, name=name,
            update_order=update_order, hidden_sizes=hidden_sizes, learning_rate=learning_rate,
            updates_per_iteration=updates_per_iteration, batch_size=batch_size,
            allow_variable_horizon=allow_variable_horizon,
        )  # fmt: skip

    def score(self, batch: Transitions) -> np.ndarray:
        self.check_horizon(batch)
        with torch.no_grad():
            return F.softplus(self.logits(batch.obs, batch.action)).double().numpy()

    def update(self, batch: Transitions) -> dict[str, float]:
        m = self.train_discriminator(batch, reference_positive=True)
        return {"loss": m["loss"], "acc_expert": m["acc_reference"], "acc_policy": m["acc_policy"]}
