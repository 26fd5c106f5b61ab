"""The replay buffer shared by the off-policy algorithms (DQN, SAC, TD3/DDPG).

Transitions live in preallocated numpy arrays (``np.zeros`` is lazy: pages never written cost no
memory), written in the order the vector env produced them: step t of sub-env i sits at
``(t * num_envs + i) % capacity``. That layout lets an n-step return walk forward in one env's
stream with a fixed stride.

Time limits follow Stable-Baselines3's ``handle_timeout_termination``: a transition stores
``terminated`` (the value is 0 after it) and ``truncated`` (the episode was cut, the value is not 0)
separately, and ``next_obs`` is the episode's true last observation. A truncated transition therefore
bootstraps from ``next_obs``; only a terminated one does not. ``truncated`` matters only to stop an
n-step sum at the episode boundary.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from rewardlab.errors import ConfigError

#: fraction of the available memory a replay buffer may take before it is refused
MEMORY_FRACTION = 0.8


def available_memory_bytes() -> int:
    """Memory the kernel says a new allocation can get (``MemAvailable``), or the free pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class ReplayBuffer:
    """A circular buffer of transitions ``(obs, action, reward, next_obs, terminated, truncated)``.

    ``action_shape=()`` with ``action_dtype=np.int64`` holds Discrete actions (DQN); a Box action
    space gives ``action_shape=(dim,)`` in float32. ``n_step > 1`` makes :meth:`sample` return
    n-step returns ``sum_k gamma^k r_{t+k}``, cut at an episode end or at the newest transition,
    with the matching ``discounts`` (gamma ** steps summed) to use in place of gamma.
    ``critic_obs_dim > 0`` adds privileged observations that only the critics see (asymmetric
    actor-critic): ``critic_obs`` and ``next_critic_obs``.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        action_shape: tuple[int, ...] = (),
        action_dtype: Any = np.int64,
        *,
        num_envs: int = 1,
        n_step: int = 1,
        gamma: float = 0.99,
        critic_obs_dim: int = 0,
    ):
        if n_step < 1:
            raise ConfigError(f"config key 'n_steps': must be >= 1, got {n_step}")
        self.capacity, self.num_envs, self.n_step, self.gamma = capacity, num_envs, n_step, gamma
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.actions = np.zeros((capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=np.float32)  # 1 = terminated: no bootstrap
        self.truncated = np.zeros(capacity, dtype=bool)  # cut by a time limit: bootstraps
        self.critic_obs_dim = critic_obs_dim
        if critic_obs_dim:
            self.critic_obs = np.zeros((capacity, critic_obs_dim), dtype=np.float32)
            self.next_critic_obs = np.zeros((capacity, critic_obs_dim), dtype=np.float32)
        self.pos = 0
        self.full = False

    @staticmethod
    def bytes_per_transition(obs_dim: int, action_dim: int, action_itemsize: int = 4) -> int:
        return 2 * 4 * obs_dim + action_itemsize * action_dim + 4 + 4 + 1

    @staticmethod
    def check_fits(capacity: int, obs_dim: int, action_dim: int, action_itemsize: int = 4) -> None:
        """Refuse, before anything is built, a buffer that would not fit in memory."""
        need = capacity * ReplayBuffer.bytes_per_transition(obs_dim, action_dim, action_itemsize)
        have = available_memory_bytes()
        if need > MEMORY_FRACTION * have:
            raise ConfigError(
                f"the replay buffer would need about {need / 2**30:.1f} GiB ({capacity:,} transitions x "
                f"{ReplayBuffer.bytes_per_transition(obs_dim, action_dim, action_itemsize)} bytes: obs and "
                f"next_obs of {obs_dim} float32, an action of {action_dim}, reward and flags), but only "
                f"{have / 2**30:.1f} GiB of memory is available ({MEMORY_FRACTION:.0%} of it may be used). "
                f"Lower config key 'buffer_size' (at most {int(MEMORY_FRACTION * have) // ReplayBuffer.bytes_per_transition(obs_dim, action_dim, action_itemsize):,} here)."
            )

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(self, obs, next_obs, actions, rewards, terminated, truncated=None, critic_obs=None,
            next_critic_obs=None) -> None:  # fmt: skip
        """One vector-env step: arrays with ``num_envs`` rows (``next_obs`` is the true last
        observation where an episode ended, not the reset observation)."""
        n = len(rewards)
        if self.pos + n <= self.capacity:  # the common case: one contiguous slice, no wrap
            rows = slice(self.pos, self.pos + n)
        else:
            rows = (self.pos + np.arange(n)) % self.capacity
        self.obs[rows], self.next_obs[rows], self.actions[rows] = obs, next_obs, actions
        self.rewards[rows], self.dones[rows] = rewards, terminated
        self.truncated[rows] = False if truncated is None else truncated
        if self.critic_obs_dim:
            self.critic_obs[rows], self.next_critic_obs[rows] = critic_obs, next_critic_obs
        self.full = self.full or self.pos + n >= self.capacity
        self.pos = (self.pos + n) % self.capacity

    def sample(self, rng: np.random.Generator, n_batches: int, batch_size: int) -> dict[str, torch.Tensor]:
        """``n_batches`` uniform minibatches at once, each tensor shaped (n_batches, batch_size, ...)."""
        return self.gather(rng.integers(0, len(self), size=(n_batches, batch_size)))

    def indices(self, uniforms: np.ndarray) -> np.ndarray:
        """Uniform [0, 1) draws -> uniform indices over the buffer's current content. Lets an
        algorithm draw all of an iteration's randomness at once while the buffer keeps growing."""
        return (uniforms * len(self)).astype(np.int64)

    def gather(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        """The transitions at ``idx`` (any shape) as torch tensors."""
        if self.n_step == 1:
            next_idx, rewards, dones = idx, self.rewards[idx], self.dones[idx]
            discounts = None
        else:
            next_idx, rewards, dones, discounts = self._n_step(idx)
        batch = {
            "obs": torch.from_numpy(self.obs[idx]),
            "next_obs": torch.from_numpy(self.next_obs[next_idx]),
            "actions": torch.from_numpy(self.actions[idx]),
            "rewards": torch.from_numpy(rewards),
            "dones": torch.from_numpy(dones),
        }
        if discounts is not None:
            batch["discounts"] = torch.from_numpy(discounts)
        if self.critic_obs_dim:
            batch["critic_obs"] = torch.from_numpy(self.critic_obs[idx])
            batch["next_critic_obs"] = torch.from_numpy(self.next_critic_obs[next_idx])
        return batch

    def _n_step(self, idx: np.ndarray):
        # How many transitions of idx's env stream are stored from idx on (idx itself included):
        # the walk may not pass the newest write, which is what `pos` points just after.
        ahead = (self.pos - 1 - idx) % self.capacity + 1
        rewards = np.zeros(idx.shape, dtype=np.float32)
        last = idx.copy()
        steps = np.zeros(idx.shape, dtype=np.int64)
        alive = np.ones(idx.shape, dtype=bool)
        for k in range(self.n_step):
            j = (idx + k * self.num_envs) % self.capacity
            use = alive & (k * self.num_envs < ahead)
            rewards += np.where(use, np.float32(self.gamma**k) * self.rewards[j], np.float32(0))
            last = np.where(use, j, last)
            steps += use
            alive = use & (self.dones[j] == 0) & ~self.truncated[j]
        discounts = (self.gamma**steps).astype(np.float32)
        return last, rewards, self.dones[last], discounts

    def state_dict(self) -> dict[str, Any]:
        n = len(self)  # only the filled part is saved, once per checkpoint
        state = {key: getattr(self, key)[:n].copy() for key in self._arrays()}
        return {**state, "pos": self.pos, "full": self.full}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = len(state["rewards"])
        for key in self._arrays():
            getattr(self, key)[:n] = state[key]
        self.pos, self.full = state["pos"], state["full"]

    def _arrays(self) -> tuple[str, ...]:
        extra = ("critic_obs", "next_critic_obs") if self.critic_obs_dim else ()
        return ("obs", "next_obs", "actions", "rewards", "dones", "truncated", *extra)
