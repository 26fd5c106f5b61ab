"""Parts shared by the adversarial rewards (GAIL, AIRL, ORPO): a discriminator on (observation, action)
pairs, its loss, the horizon guard, and demonstration files.

The discriminator is an MLP on ``[standardised obs, one-hot action]`` (imitation's
``BasicRewardNet`` inputs; with ``use_action = False`` on the observation alone, as AIRL's
state-only reward) returning a logit. The observations are standardised with ``obs_norm =
"reference"``: the reference data's statistics, fixed; or ``"running"``: running statistics of every
discriminator batch, reference and rollout rows together, folded in before each step (imitation's
``RunningNorm`` input layer, updated in training mode only), so states far from the reference
(a fallen pole) are not tens of reference standard deviations out, where a ReLU net only
extrapolates. The discriminator is
trained with binary cross-entropy between a *positive* and a *negative* sample of
transitions: GAIL labels the expert positive, ORPO the current policy (against the base policy).
Each iteration runs ``updates_per_iteration`` steps of ``batch_size`` + ``batch_size`` samples drawn
with the reward's own generator, before the rollout is scored (``update_order = "before_score"``).

Episodes that end by termination leak reward information (imitation's docs on variable horizons:
a positive reward teaches to survive, a negative one to die, whatever the discriminator says), so a
terminated transition is an error unless ``allow_variable_horizon`` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from rewardlab.core.state import OBJECT
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards.learned.base import TransitionReward, Transitions
from rewardlab.rewards.learned.normalize import RunningStats
from rewardlab.rl.common import mlp

OBS_NORMS = ("reference", "running")


def discriminator_loss(expert_logits: torch.Tensor, policy_logits: torch.Tensor) -> torch.Tensor:
    """BCE with logits, expert labelled 1 and policy 0, over the concatenated batch."""
    logits = torch.cat([expert_logits, policy_logits])
    labels = torch.cat([torch.ones_like(expert_logits), torch.zeros_like(policy_logits)])
    return F.binary_cross_entropy_with_logits(logits, labels)


def save_demonstrations(path: str | Path, obs: np.ndarray, actions: np.ndarray, **extra: Any) -> None:
    np.savez(path, obs=obs, actions=actions, **extra)


def load_demonstrations(path: str | Path) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"demonstrations file {str(path)!r} does not exist")
    with np.load(path) as data:
        missing = [k for k in ("obs", "actions") if k not in data]
        if missing:
            raise ConfigError(f"demonstrations file {str(path)!r} lacks {missing}; it holds {sorted(data)}")
        return {k: data[k] for k in data}


def collect_demonstrations(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str | Callable[..., Any],
    episodes: int,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Run ``act`` (a batch of observations -> actions) for whole episodes on fresh envs seeded
    ``seed, seed + 1, ...`` (``env_id`` a Gymnasium id, or a callable returning an env); returns
    ``obs``, ``actions``, ``next_obs`` (the observation each step reached), ``dones`` (the episode
    ended there by termination; a time limit is not an end of the MDP) and per-episode ``returns``."""
    obs_list, act_list, next_list, done_list, returns = [], [], [], [], []
    for i in range(episodes):
        env = (
            env_id(**dict(env_kwargs or {}))
            if callable(env_id)
            else gym.make(env_id, **dict(env_kwargs or {}))
        )
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            action = np.asarray(act(obs[None]))[0]
            obs_list.append(obs)
            act_list.append(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            next_list.append(obs)
            done_list.append(terminated)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        env.close()
    return {
        "obs": np.stack(obs_list),
        "actions": np.stack(act_list),
        "next_obs": np.stack(next_list),
        "dones": np.asarray(done_list),
        "returns": np.asarray(returns),
    }


class AdversarialReward(TransitionReward):
    """A transition reward computed from a discriminator against a reference data file."""

    update_order = "before_score"
    state_fields = {"discriminator": OBJECT, "optimizer": OBJECT, "obs_stats": OBJECT}  # obs_stats: "running"
    reference_key = "demonstrations"  # the config key naming the reference file

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        reference: str,
        *,
        num_envs: int = 1,
        seed: int = 0,
        name: str | None = None,
        update_order: str | None = None,
        hidden_sizes: tuple[int, ...] = (32, 32),
        learning_rate: float = 3e-4,
        updates_per_iteration: int = 8,
        batch_size: int = 1024,
        allow_variable_horizon: bool = False,
        use_action: bool = True,
        obs_norm: str = "reference",
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            num_envs=num_envs,
            seed=seed,
            name=name,
            update_order=update_order,
        )
        self.require_box_observations()
        if not reference:
            raise ConfigError(
                f"reward {self.name!r} needs {self.reference_key} = 'path/to/file.npz' (obs, actions)"
            )
        data = load_demonstrations(reference)
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if not self.discrete and not isinstance(action_space, gym.spaces.Box):
            raise ConfigError(
                f"reward {self.name!r} cannot take the action space {action_space}: Discrete or Box"
            )
        obs_dim = int(np.prod(observation_space.shape))
        self.use_action = bool(use_action)
        act_dim = (
            int(action_space.n) if self.discrete else int(np.prod(action_space.shape))
        ) * self.use_action
        self.reference_obs = data["obs"].reshape(len(data["obs"]), -1).astype(np.float64)
        self.reference_actions = data["actions"]
        if obs_norm not in OBS_NORMS:
            raise ConfigError(
                f"reward {self.name!r}: obs_norm {obs_norm!r} is not one of {', '.join(map(repr, OBS_NORMS))}"
            )
        self.reference_mean, self.reference_std = self.reference_obs.mean(0), self.reference_obs.std(0) + 1e-8
        self.obs_stats = RunningStats(shape=(obs_dim,)) if obs_norm == "running" else None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.discriminator = mlp(obs_dim + act_dim, hidden_sizes, 1, "relu")
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=learning_rate)
        self.updates_per_iteration, self.batch_size = int(updates_per_iteration), int(batch_size)
        self.allow_variable_horizon = allow_variable_horizon

    @property
    def obs_mean(self) -> np.ndarray:
        return self.reference_mean if self.obs_stats is None else self.obs_stats.mean

    @property
    def obs_std(self) -> np.ndarray:
        return self.reference_std if self.obs_stats is None else np.sqrt(self.obs_stats.var + 1e-8)

    def _inputs(self, obs: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        x = (obs.reshape(len(obs), -1) - self.obs_mean) / self.obs_std
        if not self.use_action:
            return torch.as_tensor(x, dtype=torch.float32)
        if self.discrete:
            a = np.eye(self.action_space.n)[np.asarray(actions, dtype=np.int64).reshape(-1)]
        else:
            a = np.asarray(actions, dtype=np.float64).reshape(len(actions), -1)
        return torch.as_tensor(np.concatenate([x, a], axis=1), dtype=torch.float32)

    def logits(self, obs: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        return self.discriminator(self._inputs(obs, actions)).squeeze(-1)

    def check_horizon(self, batch: Transitions) -> None:
        if self.allow_variable_horizon or batch.terminated is None or not batch.terminated.any():
            return
        raise ConfigError(
            f"reward {self.name!r}: an episode ended by termination (transition "
            f"{int(np.flatnonzero(batch.terminated)[0])}). With variable-length episodes the end itself "
            "pays (a positive reward teaches to survive, a negative one to die), so the policy can 'imitate' "
            "without the expert; use a fixed-horizon env (e.g. cartpole-fixed-horizon), or set "
            "allow_variable_horizon = true to accept the bias"
        )

    def discriminator_logits(
        self, batch: Transitions, ir: np.ndarray, ip: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The discriminator's logits on reference rows ``ir`` and rollout rows ``ip`` (AIRL overrides)."""
        reference = self.logits(self.reference_obs[ir], self.reference_actions[ir])
        return reference, self.logits(batch.obs[ip], batch.action[ip])

    def train_discriminator(self, batch: Transitions, reference_positive: bool) -> dict[str, float]:
        """``updates_per_iteration`` BCE steps; returns the loss and the accuracy on each side."""
        self.check_horizon(batch)
        stats: dict[str, list[float]] = {"loss": [], "acc_reference": [], "acc_policy": []}
        for _ in range(self.updates_per_iteration):
            ir = self.np_rng.integers(len(self.reference_obs), size=self.batch_size)
            ip = self.np_rng.integers(len(batch), size=self.batch_size)
            if self.obs_stats is not None:
                self.obs_stats.update(
                    np.concatenate([self.reference_obs[ir], batch.obs[ip].reshape(len(ip), -1)])
                )
            reference, policy = self.discriminator_logits(batch, ir, ip)
            loss = (
                discriminator_loss(reference, policy)
                if reference_positive
                else discriminator_loss(policy, reference)
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            sign = 1.0 if reference_positive else -1.0
            stats["loss"].append(loss.item())
            stats["acc_reference"].append(float((sign * reference > 0).float().mean()))
            stats["acc_policy"].append(float((sign * policy < 0).float().mean()))
        self.updates += 1
        out = {k: float(np.mean(v)) for k, v in stats.items()}
        if not np.isfinite(out["loss"]):
            raise RewardlabError(f"reward {self.name!r}: discriminator loss is {out['loss']}")
        return out
