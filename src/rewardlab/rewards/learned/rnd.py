"""Random Network Distillation (Burda et al. 2019, arXiv:1810.12894) as a transition reward.

The intrinsic reward of a transition is the error of a trained *predictor* network at matching
a fixed, randomly initialised *target* network on the next observation:
``r_int = 0.5 * ||f_target(s') - f_pred(s')||^2``. States seen often are predicted well and stop
paying, so the agent is pushed towards new ones.

Defaults follow CleanRL's ``ppo_rnd_envpool.py`` (read at commit fe8d8a03, see
docs/learned_rewards.md): observations normalised by running statistics and clipped at +-5,
the statistics warmed up with random-action steps before training; the reward divided by the
running std of its discounted return (:class:`ReturnNorm`, per env over time); a non-episodic
intrinsic stream with discount 0.99 and its own value head, weighted 1 against 2 for the
extrinsic advantage (PPO's ``ext_coef``); the predictor trained on a random 25 % of each
minibatch. Two choices differ from CleanRL, both to keep the reward's state its own: the
predictor has its own Adam optimizer (CleanRL shares the agent's) with a constant learning
rate, and its gradient norm is clipped alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rewardlab.core.state import OBJECT
from rewardlab.rewards.learned.base import TransitionReward, Transitions
from rewardlab.rewards.learned.normalize import ReturnNorm, RunningStats
from rewardlab.rl.common import clip_grad_norm, mlp


def rnd_loss(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Predictor loss: per-sample mean squared error over features, averaged over the masked
    samples (CleanRL: ``(mse(pred, target).mean(-1) * mask).sum() / max(mask.sum(), 1)``)."""
    per_sample = (predicted - target.detach()).pow(2).mean(-1)
    return (per_sample * mask).sum() / mask.sum().clamp(min=1.0)


class RNDNovelty(TransitionReward):
    """The raw RND reward (no return normalisation); :func:`rnd` builds the normalised one."""

    name = "rnd"
    gamma = 0.99
    episodic = False
    update_order = "after_score"
    state_fields = {"predictor": OBJECT, "target": OBJECT, "optimizer": OBJECT, "obs_stats": OBJECT}

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        num_envs: int = 1,
        seed: int = 0,
        name: str | None = None,
        update_order: str | None = None,
        hidden_sizes: tuple[int, ...] = (64, 64),
        feature_dim: int = 32,
        learning_rate: float = 3e-4,
        update_proportion: float = 0.25,
        obs_clip: float = 5.0,
        warmup_steps: int = 1280,
        epochs: int = 4,
        num_minibatches: int = 4,
        max_grad_norm: float = 0.5,
        gamma: float = 0.99,
        coef: float = 1.0,
    ) -> None:
        self.gamma, self.coef, self.warmup_steps = float(gamma), float(coef), int(warmup_steps)
        super().__init__(
            observation_space,
            action_space,
            num_envs=num_envs,
            seed=seed,
            name=name,
            update_order=update_order,
        )
        self.require_box_observations()
        obs_dim = int(np.prod(observation_space.shape))
        # The networks come from the reward's own seed: building them leaves the agent's RNG untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.target = mlp(
                obs_dim, hidden_sizes, feature_dim, "relu", orthogonal=True, out_gain=np.sqrt(2)
            )
            self.predictor = mlp(
                obs_dim, hidden_sizes, feature_dim, "relu", orthogonal=True, out_gain=np.sqrt(2)
            )
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=learning_rate)
        self.obs_stats = RunningStats(shape=(obs_dim,))
        self.update_proportion, self.obs_clip = float(update_proportion), float(obs_clip)
        self.epochs, self.num_minibatches, self.max_grad_norm = (
            int(epochs),
            int(num_minibatches),
            max_grad_norm,
        )

    def normalise(self, obs: np.ndarray) -> torch.Tensor:
        obs = obs.reshape(len(obs), -1)
        # eps: a one-hot input that never fired has a (near) zero variance
        x = (obs - self.obs_stats.mean) / np.sqrt(self.obs_stats.var + 1e-8)
        return torch.as_tensor(np.clip(x, -self.obs_clip, self.obs_clip), dtype=torch.float32)

    def score(self, batch: Transitions) -> np.ndarray:
        with torch.no_grad():
            x = self.normalise(batch.next_obs)
            error = 0.5 * (self.target(x) - self.predictor(x)).pow(2).sum(-1)
        return error.double().numpy()

    def fit(self, data: Transitions) -> dict[str, float]:
        """The warm-up: observation statistics from random-action transitions (CleanRL's
        ``num_iterations_obs_norm_init``); the predictor is not trained on them."""
        self.obs_stats.update(data.next_obs.reshape(len(data), -1))
        return {"warmup_transitions": float(len(data))}

    def update(self, batch: Transitions) -> dict[str, float]:
        # CleanRL order: statistics first, then the predictor, on this rollout's next observations
        self.obs_stats.update(batch.next_obs.reshape(len(batch), -1))
        x = self.normalise(batch.next_obs)
        with torch.no_grad():
            target = self.target(x)
        n = len(x)
        size = max(1, n // self.num_minibatches)
        losses, norms = [], []
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=self.torch_gen)
            for start in range(0, n, size):
                idx = perm[start : start + size]
                mask = (torch.rand(len(idx), generator=self.torch_gen) < self.update_proportion).float()
                loss = rnd_loss(self.predictor(x[idx]), target[idx], mask)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                norms.append(clip_grad_norm(list(self.predictor.parameters()), self.max_grad_norm))
                self.optimizer.step()
                losses.append(loss.detach())
        self.updates += 1
        return {"loss": float(torch.stack(losses).mean()), "grad_norm": float(torch.stack(norms).mean())}


def rnd(
    observation_space: Any,
    action_space: Any,
    *,
    num_envs: int = 1,
    seed: int = 0,
    name: str | None = None,
    update_order: str | None = None,
    hidden_sizes: tuple[int, ...] = (64, 64),
    feature_dim: int = 32,
    learning_rate: float = 3e-4,
    update_proportion: float = 0.25,
    obs_clip: float = 5.0,
    warmup_steps: int = 1280,
    epochs: int = 4,
    num_minibatches: int = 4,
    max_grad_norm: float = 0.5,
    gamma: float = 0.99,
    coef: float = 1.0,
    return_norm: bool = True,
) -> TransitionReward:
    """RND with CleanRL's defaults: :class:`RNDNovelty` divided by its discounted-return std."""
    novelty = RNDNovelty(
        observation_space, action_space, num_envs=num_envs, seed=seed, name=name, update_order=update_order,
        hidden_sizes=hidden_sizes,
        feature_dim=feature_dim, learning_rate=learning_rate, update_proportion=update_proportion,
        obs_clip=obs_clip, warmup_steps=warmup_steps, epochs=epochs, num_minibatches=num_minibatches,
        max_grad_norm=max_grad_norm, gamma=gamma, coef=coef,
    )  # fmt: skip
    return ReturnNorm(novelty) if return_norm else novelty
