"""Twin Delayed DDPG (Fujimoto et al., 2018), and DDPG (Lillicrap et al., 2016) as its configuration.

A deterministic tanh actor with exploration noise added in the normalised action space, twin
critics and target networks for both. Each gradient step, in Stable-Baselines3's order
(stable_baselines3/td3/td3.py ``train``):

1. sample a minibatch; target-policy smoothing ``a' = clip(pi'(s') + clip(N(0, sigma), -c, c), -1, 1)``;
2. critic target ``y = r + (1 - terminated) gamma min_i Q'_i(s', a')``, critic loss
   ``sum_i MSE(Q_i(s, a), y)``, one Adam step;
3. every ``policy_delay``-th update: actor loss ``-mean Q_1(s, pi(s))``, one Adam step, then Polyak
   updates of the target critics and the target actor.

DDPG is SB3's DDPG: ``policy_delay = 1``, ``target_noise_clip = 0`` (no smoothing) and one critic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rewardlab.errors import ConfigError
from rewardlab.rl.common import LeanAdam
from rewardlab.rl.offpolicy import (
    EnsembleCritic,
    OffPolicyAlgorithm,
    OffPolicyConfig,
    critic_targets,
    polyak_update_,
    relu_mlp,
    twin_critic_loss,
)


@dataclass
class TD3Config(OffPolicyConfig):
    # Defaults: Stable-Baselines3 2.9 TD3 class defaults (td3/td3.py, td3/policies.py), field by
    # field: buffer_size 1e6, learning_starts 100, batch_size 256, tau 0.005, gamma 0.99,
    # train_freq 1, gradient_steps 1, action_noise None (OffPolicyConfig); then:
    learning_rate: float = 1e-3
    policy_delay: int = 2  # critic updates per actor (and target) update
    target_policy_noise: float = 0.2  # sigma of the smoothing noise on a', normalised units
    target_noise_clip: float = 0.5
    hidden_sizes: tuple[int, ...] = (400, 300)  # td3/policies.py net_arch default

    def validate(self) -> None:
        super().validate()
        if self.policy_delay < 1:
            raise ConfigError(f"config key 'policy_delay': must be >= 1, got {self.policy_delay}")
        if self.target_policy_noise < 0 or self.target_noise_clip < 0:
            raise ConfigError("config keys 'target_policy_noise' and 'target_noise_clip' must be >= 0")


@dataclass
class DDPGConfig(TD3Config):
    # Stable-Baselines3's DDPG (ddpg/ddpg.py): TD3 with these three changes.
    policy_delay: int = 1
    target_noise_clip: float = 0.0  # no target-policy smoothing
    n_critics: int = 1


# ---------------------------------------------------------------------------------------------
# The losses, as pure functions


def td3_target_actions(next_actions: torch.Tensor, noise: torch.Tensor, noise_clip: float) -> torch.Tensor:
    """Target-policy smoothing: clip(pi'(s') + clip(noise, -c, c), -1, 1), where ``noise`` is a
    N(0, sigma^2) draw shaped like the actions (Fujimoto et al. 2018, eq. 14)."""
    return (next_actions + noise.clamp(-noise_clip, noise_clip)).clamp(-1, 1)


def td3_critic_target(
    rewards: torch.Tensor, dones: torch.Tensor, discounts: torch.Tensor | float, next_q: torch.Tensor
) -> torch.Tensor:
    """y = r + (1 - terminated) gamma min_i Q'_i(s', a') (clipped double Q); ``next_q`` is (n, batch)."""
    return critic_targets(rewards, dones, discounts, next_q.min(dim=0).values)


def td3_actor_loss(q1_pi: torch.Tensor) -> torch.Tensor:
    """-mean Q_1(s, pi(s)): the deterministic policy gradient through the first critic only."""
    return -q1_pi.mean()


# ---------------------------------------------------------------------------------------------
# The algorithm


class DeterministicActor(nn.Module):
    """obs -> tanh(MLP(obs)) in [-1, 1] (SB3's td3/policies.py Actor with squash_output)."""

    def __init__(self, obs_dim: int, hidden: tuple[int, ...], action_dim: int):
        super().__init__()
        self.net = nn.Sequential(*relu_mlp(obs_dim, hidden), nn.Linear(hidden[-1], action_dim), nn.Tanh())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class TD3(OffPolicyAlgorithm):
    config_class = TD3Config
    algo_name = "td3"
    summary = "TD3: twin critics, delayed policy updates, target-policy smoothing (Fujimoto et al. 2018)"
    config: TD3Config
    rebuilt_fields = ("critic_params", "source_params", "target_params")  # parameter lists (references)

    def __init__(self, config: TD3Config):
        super().__init__(config)
        c = self.config
        self.actor = DeterministicActor(self.obs_dim, c.hidden_sizes, self.action_dim)
        self.actor_target = DeterministicActor(self.obs_dim, c.hidden_sizes, self.action_dim)
        self.actor_target.load_state_dict(self.actor.state_dict())
        critic_in = self.obs_dim + self.critic_obs_dim + self.action_dim
        self.critic = EnsembleCritic(critic_in, c.hidden_sizes, c.n_critics)
        self.critic_target = EnsembleCritic(critic_in, c.hidden_sizes, c.n_critics)
        self.critic_target.load_state_dict(self.critic.state_dict())
        for target in (self.actor_target, self.critic_target):
            target.requires_grad_(False)
        self.actor_optimizer = LeanAdam(list(self.actor.parameters()), lr=c.learning_rate)
        self.critic_optimizer = LeanAdam(list(self.critic.parameters()), lr=c.learning_rate)
        self.critic_params = list(self.critic.parameters())
        # one fused Polyak update over the critic and actor targets together
        self.target_params = [*self.critic_target.parameters(), *self.actor_target.parameters()]
        self.source_params = [*self.critic_params, *self.actor.parameters()]

    def _policy_actions(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def _act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def _update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.config
        obs = batch["obs"]
        critic_obs, next_critic_obs = self._critic_inputs(batch)  # asymmetric: + privileged part
        self.n_updates += 1  # SB3 counts first, so the actor moves on updates 2, 4, ...
        with torch.no_grad():
            noise = torch.empty_like(batch["actions"]).normal_(0, c.target_policy_noise)
            next_actions = td3_target_actions(
                self.actor_target(batch["next_obs"]), noise, c.target_noise_clip
            )
            next_q = self.critic_target(next_critic_obs, next_actions)
            targets = td3_critic_target(batch["rewards"], batch["dones"], self._discounts(batch), next_q)
        q_values = self.critic(critic_obs, batch["actions"])
        critic_loss = twin_critic_loss(q_values, targets)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.update()
        out = {"critic_loss": critic_loss.detach(), "q_mean": q_values.detach().mean()}

        if self.n_updates % c.policy_delay == 0:
            for p in self.critic_params:  # only dQ/da is needed, not the critic's weight gradients
                p.requires_grad_(False)
            actor_loss = td3_actor_loss(self.critic(critic_obs, self.actor(obs), members=1))
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            for p in self.critic_params:
                p.requires_grad_(True)
            self.actor_optimizer.update()
            polyak_update_(self.target_params, self.source_params, c.tau)
            out["actor_loss"] = actor_loss.detach()
        return out

    def _modules(self) -> dict[str, Any]:
        return {
            "actor": self.actor, "actor_target": self.actor_target, "critic": self.critic,
            "critic_target": self.critic_target, "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer,
        }  # fmt: skip


class DDPG(TD3):
    config_class = DDPGConfig
    algo_name = "ddpg"
    summary = (
        "DDPG: deterministic policy gradient with target networks (Lillicrap et al. 2016), as TD3's config"
    )
