"""What SAC and TD3/DDPG share: the collection loop, the normalised action space, the twin critics
as one batched ensemble, and the Polyak update.

The loop is Stable-Baselines3's ``OffPolicyAlgorithm.collect_rollouts`` with ``train_freq`` in steps:
uniform-random actions until ``learning_starts`` steps, then the policy's (plus exploration noise);
after every ``train_freq`` vector-env steps past ``learning_starts``, ``gradient_steps`` updates.
Actions live in [-1, 1] (what the networks output and the buffer stores) and are mapped to the
env's bounds only when the env is stepped (SB3's ``scale_action`` / ``unscale_action``).

One :meth:`step` of the Run covers ``log_every`` env steps: the metrics are summed as tensors and
turned into floats once per iteration, and the replay indices of the whole iteration are drawn at
once (as uniforms, scaled to the buffer's size at each update, so every update still samples from
everything stored so far).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rewardlab.config import RunConfig
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import ARRAY, ENV, OBJECT, RNG, VALUE
from rewardlab.errors import ConfigError
from rewardlab.rl.buffers import ReplayBuffer
from rewardlab.rl.common import (
    EpisodeStats,
    evaluate_policy,
    final_observations,
    first_non_finite,
    flat_dim,
    make_vec_env,
    require_action_space,
)
from rewardlab.rl.noise import make_noise


@dataclass
class OffPolicyConfig(RunConfig):
    # Defaults: Stable-Baselines3's OffPolicyAlgorithm as SAC and TD3 call it (sac/sac.py, td3/td3.py).
    env: str = "Pendulum-v1"
    num_envs: int = 1
    learning_rate: float = 3e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100  # steps of uniform-random actions before any update
    batch_size: int = 256
    tau: float = 0.005  # Polyak coefficient of the target networks
    gamma: float = 0.99
    train_freq: int = 1  # vector-env steps between update phases
    gradient_steps: int = 1  # updates per phase
    n_steps: int = 1  # n-step returns from the replay buffer (1 = SB3's default)
    action_noise: str = "none"  # exploration noise added in [-1, 1]: none, normal, ornstein_uhlenbeck
    noise_std: float = 0.1  # its sigma, in the normalised action space
    hidden_sizes: tuple[int, ...] = (256, 256)
    n_critics: int = 2
    log_every: int = 1000  # env steps per iteration: metrics are logged (and checkpoints fall) between them
    # Asymmetric actor-critic: "info:<key>" (a vector in every step's and reset's info) or
    # "dict:<key>" (a part of a Dict observation) that the critics see and the actor does not.
    privileged_obs: str = ""
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        for key in (
            "num_envs",
            "batch_size",
            "train_freq",
            "buffer_size",
            "n_steps",
            "n_critics",
            "log_every",
        ):
            if getattr(self, key) < 1:
                raise ConfigError(f"config key {key!r}: must be >= 1, got {getattr(self, key)}")
        if not 0 < self.tau <= 1:
            raise ConfigError(f"config key 'tau': must lie in (0, 1], got {self.tau}")
        if self.gradient_steps < 0:
            raise ConfigError(f"config key 'gradient_steps': must be >= 0, got {self.gradient_steps}")


# ---------------------------------------------------------------------------------------------
# Shared math, as pure functions


def critic_targets(
    rewards: torch.Tensor, dones: torch.Tensor, discounts: torch.Tensor | float, next_values: torch.Tensor
) -> torch.Tensor:
    """y = r + (1 - terminated) * gamma * V(s'). ``dones`` is 1 only for true terminations: a
    transition cut by a time limit bootstraps. ``discounts`` is gamma, or gamma^k for n-step rows."""
    return rewards + (1 - dones) * discounts * next_values


def twin_critic_loss(q_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over critics of the mean squared TD error; ``q_values`` is (n_critics, batch)."""
    return ((q_values - targets) ** 2).mean(dim=1).sum()


@torch.no_grad()
def polyak_update_(targets: list[torch.Tensor], sources: list[torch.Tensor], tau: float) -> None:
    """target <- (1 - tau) target + tau source, in place, for all tensors in two fused calls (the
    arithmetic of SB3's ``polyak_update``, without its per-parameter Python loop)."""
    torch._foreach_mul_(targets, 1 - tau)
    torch._foreach_add_(targets, sources, alpha=tau)


def scale_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Env-bounded actions -> [-1, 1] (SB3 ``scale_action``)."""
    return 2.0 * ((actions - low) / (high - low)) - 1.0


def unscale_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """[-1, 1] -> the env's bounds (SB3 ``unscale_action``)."""
    return low + 0.5 * (actions + 1.0) * (high - low)


# ---------------------------------------------------------------------------------------------
# Networks


class EnsembleCritic(nn.Module):
    """``n`` independent Q(s, a) MLPs evaluated as one batched network.

    Layer l of all members is one weight tensor (n, in, out), so each layer is one ``baddbmm``
    instead of n matrix products. Each member is initialised as its own ``nn.Linear`` stack (the
    init SB3's ``ContinuousCritic`` gets). The output is (n, batch).
    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...], n: int):
        super().__init__()
        self.n = n
        dims = [in_dim, *hidden, 1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for a, b in zip(dims[:-1], dims[1:]):
            layers = [nn.Linear(a, b) for _ in range(n)]
            self.weights.append(nn.Parameter(torch.stack([layer.weight.detach().T for layer in layers])))
            self.biases.append(
                nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))
            )

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, members: int | None = None) -> torch.Tensor:
        """Q-values (members, batch); ``members=k`` evaluates only the first k critics (TD3's actor
        loss needs Q1 alone)."""
        k = self.n if members is None else members
        x = torch.cat([obs, actions], dim=-1)
        x = x.unsqueeze(0).expand(k, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            # No w[:k] when all members are used: a slice's backward writes the gradient into a
            # fresh zero tensor of the full weight's shape (two extra passes over each weight).
            x = torch.baddbmm(b, x, w) if k == self.n else torch.baddbmm(b[:k], x, w[:k])
            if i < last:
                x = x.relu_()  # in place: baddbmm's backward needs its inputs, not its output
        return x.squeeze(-1)

    def load_member_modules(self, members: list[nn.Sequential]) -> None:
        """Copy weights from n ``nn.Sequential`` MLPs (Linear/ReLU), e.g. SB3's ``q_networks``."""
        with torch.no_grad():
            for li, (w, b) in enumerate(zip(self.weights, self.biases)):
                linears = [[m for m in seq if isinstance(m, nn.Linear)][li] for seq in members]
                w.copy_(torch.stack([lin.weight.T for lin in linears]))
                b.copy_(torch.stack([lin.bias for lin in linears]).unsqueeze(1))

    def member_weights(self, i: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight (out, in), bias) of each layer of member i, in nn.Linear's layout."""
        return [(w[i].T, b[i, 0]) for w, b in zip(self.weights, self.biases)]


def relu_mlp(in_dim: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """Linear/ReLU layers without an output layer (SB3's ``create_mlp(..., output_dim=-1)``)."""
    layers: list[nn.Module] = []
    for a, b in zip([in_dim, *hidden[:-1]], hidden):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class PrivilegedObs:
    """Splits what the env returns into the actor's observation and the critics' extra input.

    Asymmetric actor-critic (Pinto et al. 2018): the critics, used only in training, may see state
    the deployed actor cannot, from an ``info`` key or a part of a Dict observation. With
    ``spec=""`` the observation must be a Box and the critics see exactly the actor's input.
    """

    def __init__(self, spec: str, env_id: str, space: gym.Space, reset_infos: dict[str, Any], num_envs: int):
        self.kind, _, self.key = spec.partition(":")
        self.dim, self.num_envs = 0, num_envs
        if spec and (self.kind not in ("info", "dict") or not self.key):
            raise ConfigError(f"config key 'privileged_obs': {spec!r} is not 'info:<key>' or 'dict:<key>'")
        if isinstance(space, gym.spaces.Dict):
            if self.kind == "dict" and self.key not in space.spaces:
                raise ConfigError(f"config key 'privileged_obs': {env_id} has no observation part {self.key!r}; "
                                  f"its parts are {', '.join(space.spaces)}")  # fmt: skip
            self.actor_keys = sorted(k for k in space.spaces if not (self.kind == "dict" and k == self.key))
            self.actor_dim = sum(flat_dim(space[k]) for k in self.actor_keys)
            if self.kind == "dict":
                self.dim = flat_dim(space[self.key])
        else:
            if self.kind == "dict":
                raise ConfigError(f"config key 'privileged_obs': {spec!r} needs a Dict observation space; "
                                  f"{env_id} has {space}. Use 'info:<key>' for a privileged info entry.")  # fmt: skip
            self.actor_keys = None
            self.actor_dim = flat_dim(space)
        if self.kind == "info":
            if self.key not in reset_infos:
                raise ConfigError(f"config key 'privileged_obs': {env_id}'s reset info has no key {self.key!r} "
                                  f"(it has {', '.join(k for k in reset_infos if not k.startswith('_')) or 'none'})")  # fmt: skip
            self.dim = int(np.prod(np.asarray(reset_infos[self.key]).shape[1:], dtype=np.int64))

    def actor_obs(self, obs: Any, single: bool = False) -> np.ndarray:
        """(n, actor_dim) float32 from a batch of raw observations (or one, with ``single``)."""
        if isinstance(obs, np.ndarray) and obs.dtype == object:  # a stack of Dict observations
            obs = {k: np.stack([o[k] for o in obs]) for k in self.actor_keys}
        if self.actor_keys is None:
            flat = np.asarray(obs, dtype=np.float32)
            return flat.reshape(-1) if single else flat.reshape(len(flat), -1)
        parts = [np.asarray(obs[k], dtype=np.float32) for k in self.actor_keys]
        if single:
            return np.concatenate([p.reshape(-1) for p in parts])
        return np.concatenate([p.reshape(len(p), -1) for p in parts], axis=-1)

    def critic_obs(self, obs: Any, infos: dict[str, Any]) -> np.ndarray:
        if not self.dim:
            return np.zeros((self.num_envs, 0), dtype=np.float32)
        source = obs[self.key] if self.kind == "dict" else infos[self.key]
        return np.asarray(source, dtype=np.float32).reshape(len(source), -1)

    def final_critic_obs(self, final_obs: Any, infos: dict[str, Any], i: int) -> np.ndarray:
        """The privileged part of an episode's last step (same-step autoreset: the step's own info
        is in ``final_info``; ``info`` already belongs to the new episode)."""
        if not self.dim:
            return np.zeros(0, dtype=np.float32)
        value = final_obs[self.key] if self.kind == "dict" else infos["final_info"][self.key][i]
        return np.asarray(value, dtype=np.float32).reshape(-1)


# ---------------------------------------------------------------------------------------------
# The loop


class OffPolicyAlgorithm(Algorithm):
    """Collection, replay, checkpointing and evaluation for a Box-action off-policy learner.
    Subclasses build their networks in ``__init__`` and implement :meth:`_policy_actions`
    (exploration actions in [-1, 1]), :meth:`_act_deterministic` and :meth:`_update`."""

    state_fields = {
        "buffer": OBJECT, "noise": OBJECT, "np_rng": RNG, "envs": ENV, "obs": ARRAY, "critic_obs": ARRAY,
        "stats": OBJECT, "vector_steps": VALUE, "n_updates": VALUE,
    }  # fmt: skip
    rebuilt_fields = ("action_dim", "action_shape", "low", "high", "privileged", "obs_dim", "critic_obs_dim")

    algo_name = ""
    config: OffPolicyConfig

    def __init__(self, config: OffPolicyConfig):
        super().__init__(config)
        c = self.config = config
        torch.manual_seed(c.seed)
        self.np_rng = np.random.default_rng(c.seed)
        self.envs = make_vec_env(c.env, c.num_envs, "sync", c.env_kwargs)
        obs_space, act_space = self.envs.single_observation_space, self.envs.single_action_space
        require_action_space(self.algo_name, c.env, act_space, gym.spaces.Box)
        self.action_dim, self.action_shape = int(np.prod(act_space.shape)), act_space.shape
        self.low = act_space.low.reshape(-1).astype(np.float64)
        self.high = act_space.high.reshape(-1).astype(np.float64)
        obs, infos = self.envs.reset(seed=c.seed)
        self.privileged = PrivilegedObs(c.privileged_obs, c.env, obs_space, infos, c.num_envs)
        self.obs_dim = self.privileged.actor_dim
        self.critic_obs_dim = self.privileged.dim  # what the critics see besides the actor's obs
        ReplayBuffer.check_fits(
            min(c.buffer_size, c.total_steps), self.obs_dim + self.critic_obs_dim, self.action_dim
        )
        self.buffer = ReplayBuffer(c.buffer_size, (self.obs_dim,), (self.action_dim,), np.float32,
                                   num_envs=c.num_envs, n_step=c.n_steps, gamma=c.gamma,
                                   critic_obs_dim=self.critic_obs_dim)  # fmt: skip
        self.noise = make_noise(c.action_noise, c.num_envs, self.action_dim, c.noise_std)
        self.stats = EpisodeStats(c.num_envs)
        self.obs = self.privileged.actor_obs(obs)
        self.critic_obs = self.privileged.critic_obs(obs, infos)
        self.n_updates = 0
        self.vector_steps = 0

    # -- acting ---------------------------------------------------------------------------------

    def _policy_actions(self, obs: torch.Tensor) -> torch.Tensor:
        """Exploration actions in [-1, 1] for a batch of observations (no grad)."""
        raise NotImplementedError

    def _act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions in the env's units for a batch of raw observations."""
        with torch.no_grad():
            a = self._act_deterministic(torch.from_numpy(self.privileged.actor_obs(obs)))
        return (
            unscale_actions(a.numpy(), self.low, self.high).reshape(-1, *self.action_shape).astype(np.float32)
        )

    def _explore(self) -> np.ndarray:
        """Actions in [-1, 1] to store in the buffer (SB3 ``_sample_action``)."""
        c = self.config
        if self.global_step < c.learning_starts:
            actions = self.np_rng.uniform(-1.0, 1.0, size=(c.num_envs, self.action_dim)).astype(np.float32)
        else:
            with torch.no_grad():
                actions = self._policy_actions(torch.from_numpy(self.obs)).numpy()
        if c.action_noise != "none":
            actions = np.clip(actions + self.noise(self.np_rng), -1.0, 1.0)
        return actions

    # -- the iteration --------------------------------------------------------------------------

    def step(self) -> dict[str, float]:
        c = self.config
        n_vec = max(1, min(c.log_every, c.total_steps - self.global_step) // c.num_envs)
        # The replay randomness of the whole iteration at once; an update that does not happen
        # leaves its row unused.
        updates_max = (n_vec // c.train_freq + 1) * c.gradient_steps
        uniforms = self.np_rng.random((updates_max, c.batch_size))
        used, sums, counts = 0, {}, {}
        for _ in range(n_vec):
            actions = self._explore()
            env_actions = unscale_actions(actions, self.low, self.high).reshape(
                c.num_envs, *self.action_shape
            )
            obs, rewards, terminated, truncated, infos = self.envs.step(env_actions.astype(np.float32))
            done = terminated | truncated
            next_obs, next_critic_obs = self.privileged.actor_obs(obs), self.privileged.critic_obs(obs, infos)
            if done.any():  # the stored next observation is the episode's last, not the reset one
                next_obs, next_critic_obs = next_obs.copy(), next_critic_obs.copy()
                for i, final in final_observations(infos, done).items():
                    next_obs[i] = self.privileged.actor_obs(final, single=True)
                    next_critic_obs[i] = self.privileged.final_critic_obs(final, infos, i)
            self.buffer.add(self.obs, next_obs, actions, rewards, terminated, truncated, self.critic_obs,
                            next_critic_obs)  # fmt: skip
            self.stats.update(rewards, done)
            if done.any():
                self.noise.reset(done)
            self.obs = self.privileged.actor_obs(obs)
            self.critic_obs = self.privileged.critic_obs(obs, infos)
            self.global_step += c.num_envs
            self.vector_steps += 1
            if self.global_step > c.learning_starts and self.vector_steps % c.train_freq == 0:
                for _ in range(c.gradient_steps):
                    batch = self.buffer.gather(self.buffer.indices(uniforms[used]))
                    used += 1
                    for key, value in self._update(batch).items():
                        sums[key] = sums[key] + value if key in sums else value
                        counts[key] = counts.get(key, 0) + 1
        # one .item() per metric per iteration, not per update
        metrics = {key: (value / counts[key]).item() for key, value in sums.items()}
        if used:
            metrics["n_updates"] = float(self.n_updates)
        metrics.update(self.stats.metrics())
        return metrics

    def _update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One gradient step on a minibatch; returns detached scalar tensors to average."""
        raise NotImplementedError

    def _discounts(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | float:
        return batch["discounts"] if "discounts" in batch else self.config.gamma

    @staticmethod
    def _critic_inputs(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(critic observation at s, at s'): the actor's observation, plus the privileged part."""
        if "critic_obs" not in batch:
            return batch["obs"], batch["next_obs"]
        return (torch.cat([batch["obs"], batch["critic_obs"]], -1),
                torch.cat([batch["next_obs"], batch["next_critic_obs"]], -1))  # fmt: skip

    # -- evaluation and state -------------------------------------------------------------------

    def evaluate(self, episodes: int) -> dict[str, Any]:
        return evaluate_policy(self.config.env, self.predict, episodes, seed=self.config.seed + 10_000,
                               env_kwargs=self.config.env_kwargs)  # fmt: skip

    def _modules(self) -> dict[str, Any]:
        """Name -> module / optimizer / tensor holder saved in checkpoints (subclasses extend)."""
        raise NotImplementedError

    # State (core.state): the declared fields, plus every network, optimizer and tensor holder that
    # _modules() names, so a subclass declares its networks once, in that method.

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "modules": {name: m.state_dict() for name, m in self._modules().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        modules = state.pop("modules")
        super().load_state_dict(state)
        for name, m in self._modules().items():
            m.load_state_dict(modules[name])

    def undeclared_attributes(self) -> list[str]:
        held = {id(m) for m in self._modules().values()}
        return [name for name in super().undeclared_attributes() if id(getattr(self, name)) not in held]

    def parameters_finite(self) -> str | None:
        return first_non_finite({k: m for k, m in self._modules().items() if isinstance(m, nn.Module)})

    def close(self) -> None:
        self.envs.close()
