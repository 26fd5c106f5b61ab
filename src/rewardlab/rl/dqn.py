"""Deep Q-Network (Mnih et al., 2015) with the double-DQN option (van Hasselt et al., 2016).

One iteration = ``train_freq`` environment steps (epsilon-greedy, epsilon annealed linearly), then
``gradient_steps`` Huber-loss updates on uniform minibatches from the replay buffer, once
``learning_starts`` steps have been collected. The target network is refreshed every
``target_update_interval`` environment steps by Polyak averaging (``tau = 1`` is a hard copy). This
is Stable-Baselines3's DQN (stable_baselines3/dqn/dqn.py) step for step, including its time-limit
handling: a truncated transition is stored as not-done, so its target bootstraps from the final
observation.

Speed: the target network does not change during one iteration's gradient steps (its updates happen
between environment steps), so the target Q-values of all minibatches are computed in one forward
pass, and all minibatch indices are drawn at once. Same numbers, far less Python overhead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from rewardlab.config import RunConfig
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import ARRAY, ENV, OBJECT, RNG, VALUE
from rewardlab.rl.buffers import ReplayBuffer
from rewardlab.rl.common import (
    EpisodeStats,
    LeanAdam,
    clip_grad_norm,
    evaluate_policy,
    final_observations,
    first_non_finite,
    flat_dim,
    linear_schedule,
    make_vec_env,
    mlp,
    require_action_space,
)


@dataclass
class DQNConfig(RunConfig):
    # Defaults: Stable-Baselines3 DQN (stable_baselines3/dqn/dqn.py), themselves the Nature-DQN
    # choices scaled to classic control; tuned per-env values live in examples/ (rl-zoo3).
    env: str = "CartPole-v1"
    total_steps: int = 100_000
    num_envs: int = 1
    learning_rate: float = 1e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 100  # steps of uniform-random actions before any update
    batch_size: int = 32
    tau: float = 1.0  # target update: 1 = hard copy, < 1 = Polyak averaging
    gamma: float = 0.99
    train_freq: int = 4  # environment steps between update phases
    gradient_steps: int = 1  # updates per phase
    target_update_interval: int = 10_000  # environment steps
    exploration_fraction: float = 0.1  # fraction of training over which epsilon decays
    exploration_initial_eps: float = 1.0
    exploration_final_eps: float = 0.05
    max_grad_norm: float = 10.0
    double_q: bool = False
    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    # ranges of these fields: config.CONVENTIONAL_BOUNDS, checked by config.check_config


# ---------------------------------------------------------------------------------------------
# The math, as pure functions


def dqn_targets(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    next_q_target: torch.Tensor,
    gamma: float,
    next_q_online: torch.Tensor | None = None,
) -> torch.Tensor:
    """TD targets y = r + gamma * (1 - done) * Q_target(s', a*) (1-D result).

    a* = argmax_a Q_target(s', a) for DQN, or argmax_a Q_online(s', a) when ``next_q_online`` is
    given (double DQN). ``dones`` is 1 only for true terminations, never for time limits."""
    if next_q_online is None:
        next_value = next_q_target.max(dim=-1).values
    else:
        next_value = next_q_target.gather(-1, next_q_online.argmax(dim=-1, keepdim=True)).squeeze(-1)
    return rewards + gamma * (1.0 - dones) * next_value


def dqn_loss(q_values: torch.Tensor, actions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Huber (smooth L1, delta 1) loss between Q(s, a) and the TD targets, as SB3 and Nature-DQN."""
    q_taken = q_values.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return F.smooth_l1_loss(q_taken, targets)


# ---------------------------------------------------------------------------------------------
# The algorithm


class DQN(Algorithm):
    config_class = DQNConfig
    summary = "Deep Q-Network with replay, target network and the double-DQN option (Mnih et al. 2015)"
    gpu_ready = True  # rewardlab.core.device: networks and updates on config.device, replay on the CPU
    state_fields = {
        "q_net": OBJECT, "target_net": OBJECT, "optimizer": OBJECT, "buffer": OBJECT, "np_rng": RNG,
        "envs": ENV, "obs": ARRAY, "stats": OBJECT, "env_steps_since_target": VALUE, "n_updates": VALUE,
    }  # fmt: skip
    rebuilt_fields = ("n_actions", "params")

    def __init__(self, config: DQNConfig):
        super().__init__(config)
        c = self.config = config
        torch.manual_seed(c.seed)
        self.np_rng = np.random.default_rng(c.seed)
        self.envs = make_vec_env(c.env, c.num_envs, "sync", c.env_kwargs)
        obs_space, act_space = self.envs.single_observation_space, self.envs.single_action_space
        require_action_space("dqn", c.env, act_space, gym.spaces.Discrete)
        self.n_actions = int(act_space.n)
        obs_dim = flat_dim(obs_space)
        ReplayBuffer.check_fits(min(c.buffer_size, c.total_steps), obs_dim, 1, action_itemsize=8)
        self.q_net = mlp(obs_dim, c.hidden_sizes, self.n_actions, c.activation)
        self.target_net = mlp(obs_dim, c.hidden_sizes, self.n_actions, c.activation)
        self.target_net.load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        self.q_net.to(self.device)  # initialised on the CPU (the same draws whatever the device), then moved
        self.target_net.to(self.device)
        self.params = list(self.q_net.parameters())
        self.optimizer = LeanAdam(self.params, lr=c.learning_rate)
        self.buffer = ReplayBuffer(c.buffer_size, (obs_dim,), num_envs=c.num_envs)
        self.stats = EpisodeStats(c.num_envs)
        obs, _ = self.envs.reset(seed=c.seed)
        self.obs = obs.reshape(c.num_envs, -1).astype(np.float32)
        self.env_steps_since_target = 0
        self.n_updates = 0

    def epsilon(self) -> float:
        c = self.config
        return linear_schedule(c.exploration_initial_eps, c.exploration_final_eps,
                               self.global_step / max(c.exploration_fraction * c.total_steps, 1e-12))  # fmt: skip

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch of observations."""
        with torch.no_grad():
            obs = torch.as_tensor(obs.reshape(obs.shape[0], -1), dtype=torch.float32, device=self.device)
            return self.q_net(obs).argmax(-1).cpu().numpy()

    def _act(self) -> np.ndarray:
        c = self.config
        n = c.num_envs
        if self.global_step < c.learning_starts:
            return self.np_rng.integers(0, self.n_actions, size=n)
        eps = self.epsilon()
        explore = self.np_rng.random(n) < eps
        if explore.all():
            return self.np_rng.integers(0, self.n_actions, size=n)
        actions = self.predict(self.obs)
        if explore.any():
            actions[explore] = self.np_rng.integers(0, self.n_actions, size=int(explore.sum()))
        return actions

    def _polyak_update(self) -> None:
        tau = self.config.tau
        with torch.no_grad():
            if tau == 1.0:
                for t, s in zip(self.target_net.parameters(), self.q_net.parameters()):
                    t.copy_(s)
            else:
                for t, s in zip(self.target_net.parameters(), self.q_net.parameters()):
                    t.mul_(1 - tau).add_(s, alpha=tau)

    def step(self) -> dict[str, float]:
        c = self.config
        for _ in range(max(c.train_freq // c.num_envs, 1)):
            actions = self._act()
            obs, rewards, terminated, truncated, infos = self.envs.step(actions)
            obs = obs.reshape(c.num_envs, -1).astype(np.float32)
            done = terminated | truncated
            next_obs = obs.copy()
            for i, final in final_observations(infos, done).items():
                next_obs[i] = final.reshape(-1)
            self.buffer.add(self.obs, next_obs, actions, rewards, terminated, truncated)
            self.stats.update(rewards, done)
            self.obs = obs
            self.global_step += c.num_envs
            self.env_steps_since_target += c.num_envs
            if self.env_steps_since_target >= c.target_update_interval:
                self._polyak_update()
                self.env_steps_since_target = 0

        metrics: dict[str, float] = {"epsilon": self.epsilon() if self.global_step >= c.learning_starts else 1.0}
        if self.global_step > c.learning_starts and c.gradient_steps > 0:
            metrics.update(self._train(c.gradient_steps))
        metrics.update(self.stats.metrics())
        return metrics

    def _train(self, gradient_steps: int) -> dict[str, float]:
        c = self.config
        batch = self.buffer.sample(self.np_rng, gradient_steps, c.batch_size)
        batch = {k: v.to(self.device) for k, v in batch.items()}  # the replay buffer stays in CPU memory
        with torch.no_grad():
            next_q_target = self.target_net(batch["next_obs"])  # one pass for every minibatch
            if not c.double_q:
                all_targets = dqn_targets(batch["rewards"], batch["dones"], next_q_target, c.gamma)
        losses, q_means = [], []
        for g in range(gradient_steps):
            if c.double_q:  # the online argmax changes with every update
                with torch.no_grad():
                    targets = dqn_targets(batch["rewards"][g], batch["dones"][g], next_q_target[g], c.gamma,
                                          next_q_online=self.q_net(batch["next_obs"][g]))  # fmt: skip
            else:
                targets = all_targets[g]
            q_values = self.q_net(batch["obs"][g])
            loss = dqn_loss(q_values, batch["actions"][g], targets)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip_grad_norm(self.params, c.max_grad_norm)
            self.optimizer.update()
            losses.append(loss.detach())
            q_means.append(q_values.detach())
        self.n_updates += gradient_steps
        loss_mean, q_mean = torch.stack(losses).mean().item(), torch.stack(q_means).mean().item()
        return {"loss": loss_mean, "q_mean": q_mean, "n_updates": float(self.n_updates)}

    def evaluate(self, episodes: int) -> dict[str, Any]:
        return evaluate_policy(self.config.env, self.predict, episodes, seed=self.config.seed + 10_000,
                               env_kwargs=self.config.env_kwargs)  # fmt: skip

    def parameters_finite(self) -> str | None:
        return first_non_finite({"q_net": self.q_net})

    def close(self) -> None:
        self.envs.close()
