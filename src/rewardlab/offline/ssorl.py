"""SS-ORL (Zheng et al., 2023, "Semi-supervised offline RL with action-free trajectories"):
label the action-free trajectories with an inverse-dynamics model, then run any offline RL.

As facebookresearch/ssorl does it (``data.py::setup_action_label``, ``inverse_model_seq.py``,
``config/config.yaml``; docs/offline.md, "SS-ORL"):

1. Sort trajectories by return; the labelled set is ``labelled_fraction`` (0.1) of all of them,
   drawn without replacement from the lowest-return ``threshold`` (0.5) share; every other
   trajectory keeps its observations and rewards only.
2. An inverse-dynamics model p(a_t | s_{t-k..t}, s_{t+1}) (k = ``past`` = 1): a Gaussian whose mean
   and log-std come from an MLP [1024, 1024] with dropout 0.1, trained by negative log-likelihood
   (Adam, lr 1e-4, batch 1024) on the labelled transitions.
3. Proxy labels = the predicted mean (ensemble size 1, so the mixture mean is the mean), clipped to
   the action space; the offline learner then sees labelled plus proxy-labelled data.

Ours where the code was not read: states before an episode's start repeat its first observation
(the past window's padding), actions are regressed in [-1, 1] (the Box bounds mapped linearly, as
the offline algorithms here learn them), log-std is clamped to [-5, 2] (the offline actors' range).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rewardlab.errors import ConfigError
from rewardlab.offline.dataset import DatasetError, OfflineDataset
from rewardlab.rl.common import LeanAdam


def labelled_split(
    returns: np.ndarray, rng: np.random.Generator, labelled_fraction: float = 0.1, threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(labelled, unlabelled) trajectory indices, each sorted: ``round(labelled_fraction * n)``
    (at least 1) drawn from the ``floor(threshold * n)`` lowest returns."""
    n = len(returns)
    if not 0 < labelled_fraction <= threshold <= 1:
        raise ConfigError(
            f"need 0 < labelled_fraction <= threshold <= 1 (got {labelled_fraction}, {threshold})"
        )
    low = np.argsort(returns, kind="stable")[: int(threshold * n)]
    k = max(1, round(labelled_fraction * n))
    if k > len(low):
        raise DatasetError(
            f"{n} trajectories leave {len(low)} in the lowest {threshold:.0%}, fewer than the {k} to label"
        )
    labelled = np.sort(rng.choice(low, size=k, replace=False))
    return labelled, np.setdiff1d(np.arange(n), labelled)


def inverse_dynamics_inputs(observations: np.ndarray, past: int = 1, next_state: bool = True) -> np.ndarray:
    """Per step t of one episode (T+1 observations): concat(s_{t-past}, ..., s_t, s_{t+1}), with
    s_j for j < 0 = s_0. Shape (T, (past + 2) * obs_dim). ``next_state=False`` leaves s_{t+1} out:
    the ablation that turns the model into behaviour cloning on the labelled data."""
    obs = observations.reshape(len(observations), -1)
    t = np.arange(len(obs) - 1)
    cols = [obs[np.maximum(t - j, 0)] for j in range(past, -1, -1)] + ([obs[t + 1]] if next_state else [])
    return np.concatenate(cols, axis=1).astype(np.float32)


def gaussian_nll(mean: torch.Tensor, log_std: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log N(target; mean, exp(log_std)^2), summed over action dimensions, averaged over the batch."""
    z = (target - mean) * torch.exp(-log_std)
    return (0.5 * z.pow(2) + log_std + 0.5 * math.log(2 * math.pi)).sum(-1).mean()


class InverseDynamics(nn.Module):
    def __init__(
        self, in_dim: int, act_dim: int, hidden: tuple[int, ...] = (1024, 1024), dropout: float = 0.1
    ):
        super().__init__()
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(in_dim, h), nn.ReLU(), nn.Dropout(dropout)]
            in_dim = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(in_dim, 2 * act_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.head(self.body(x)).chunk(2, dim=-1)
        return mean, log_std.clamp(-5.0, 2.0)


@dataclass
class IDMConfig:
    # facebookresearch/ssorl config/config.yaml
    past: int = 1
    hidden: tuple[int, ...] = (1024, 1024)
    dropout: float = 0.1
    learning_rate: float = 1e-4
    batch_size: int = 1024
    steps: int = 2000
    seed: int = 0
    next_state: bool = True  # False: the ablation without s_{t+1} (behaviour cloning)


def _scale(actions: np.ndarray, space: gym.spaces.Box) -> np.ndarray:
    low, high = space.low.reshape(-1), space.high.reshape(-1)
    return (2 * (actions.reshape(len(actions), -1) - low) / (high - low) - 1).astype(np.float32)


def _unscale(actions: np.ndarray, space: gym.spaces.Box) -> np.ndarray:
    low, high = space.low.reshape(-1), space.high.reshape(-1)
    return low + (np.clip(actions, -1, 1) + 1) * 0.5 * (high - low)


def episode_inputs(data: OfflineDataset, episodes: np.ndarray, config: IDMConfig) -> np.ndarray:
    return np.concatenate(
        [
            inverse_dynamics_inputs(data.episode(int(i))["observations"], config.past, config.next_state)
            for i in episodes
        ]
    )


def fit_inverse_dynamics(data: OfflineDataset, episodes: np.ndarray, config: IDMConfig) -> InverseDynamics:
    """Train p(a | s_{t-k..t}, s_{t+1}) by Gaussian NLL on ``episodes``' transitions."""
    if not isinstance(data.action_space, gym.spaces.Box):
        raise DatasetError(
            f"SS-ORL's Gaussian inverse dynamics needs Box actions; {data.name!r} has {data.action_space}"
        )
    x = torch.from_numpy(episode_inputs(data, episodes, config))
    y = torch.from_numpy(
        _scale(np.concatenate([data.episode(int(i))["actions"] for i in episodes]), data.action_space)
    )
    torch.manual_seed(config.seed)
    model = InverseDynamics(x.shape[1], y.shape[1], config.hidden, config.dropout)
    opt = LeanAdam(model.parameters(), lr=config.learning_rate)
    rng = np.random.default_rng(config.seed)
    for _ in range(config.steps):
        idx = torch.from_numpy(rng.integers(0, len(x), size=min(config.batch_size, len(x))))
        loss = gaussian_nll(*model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def predict_actions(
    model: InverseDynamics, data: OfflineDataset, episodes: np.ndarray, config: IDMConfig
) -> np.ndarray:
    """The proxy labels of ``episodes``' steps, in the env's action units (clipped to the bounds)."""
    mean, _ = model(torch.from_numpy(episode_inputs(data, episodes, config)))
    return _unscale(mean.numpy(), data.action_space).reshape(-1, *data.action_space.shape)


def relabel(data: OfflineDataset, episodes: np.ndarray, actions: np.ndarray) -> OfflineDataset:
    """A copy of ``data`` whose ``episodes`` (in order) carry ``actions`` instead of their own."""
    offsets = np.concatenate([[0], np.cumsum(data.episode_lengths)])
    new = data.actions.copy()
    at = 0
    for i in episodes:
        a, b = offsets[i], offsets[i + 1]
        new[a:b] = actions[at : at + b - a]
        at += b - a
    if at != len(actions):
        raise DatasetError(f"{len(actions)} proxy actions for {at} steps of the unlabelled episodes")
    return OfflineDataset(
        observations=data.observations, actions=new.astype(data.actions.dtype), rewards=data.rewards,
        terminations=data.terminations, truncations=data.truncations, episode_lengths=data.episode_lengths,
        observation_space=data.observation_space, action_space=data.action_space, env_spec=data.env_spec,
        ref_min_score=data.ref_min_score, ref_max_score=data.ref_max_score, name=f"{data.name}+proxy",
        metadata=dict(data.metadata),
    )  # fmt: skip


def subset(data: OfflineDataset, episodes: np.ndarray) -> OfflineDataset:
    """Only ``episodes`` (the labelled-only control arm)."""
    return OfflineDataset.from_episodes(
        [data.episode(int(i)) for i in episodes], data.observation_space, data.action_space,
        env_spec=data.env_spec, ref_min_score=data.ref_min_score, ref_max_score=data.ref_max_score,
        name=f"{data.name}[labelled]",
    )  # fmt: skip


def semi_supervised(
    data: OfflineDataset, config: IDMConfig, labelled_fraction: float = 0.1, threshold: float = 0.5
) -> tuple[OfflineDataset, np.ndarray, np.ndarray]:
    """SS-ORL's data step: (labelled + proxy-labelled dataset, labelled episodes, unlabelled episodes)."""
    rng = np.random.default_rng(config.seed)
    labelled, unlabelled = labelled_split(data.episode_returns(), rng, labelled_fraction, threshold)
    model = fit_inverse_dynamics(data, labelled, config)
    return relabel(data, unlabelled, predict_actions(model, data, unlabelled, config)), labelled, unlabelled
