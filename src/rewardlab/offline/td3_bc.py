"""TD3+BC (Fujimoto & Gu, 2021, arXiv:2106.06860): TD3 whose actor also regresses on the data.

Each gradient step, as d3rlpy's TD3PlusBCImpl (d3rlpy/algos/qlearning/torch/td3_plus_bc_impl.py):

1. Critics: y = r + gamma (1 - terminated) min_i Q'_i(s', clip(pi'(s') + clip(sigma eps, -c, c), -1, 1)),
   loss sum_i MSE(Q_i(s, a), y).
2. Every ``update_actor_interval``-th step: actor loss -lambda mean Q_1(s, pi(s)) + MSE(pi(s), a) with
   lambda = alpha / mean|Q_1(s, pi(s))| (detached), then Polyak updates of the critic and actor
   targets (targets move only on actor steps, as in TD3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from rewardlab.offline.common import (
    DeterministicActor,
    OfflineAlgorithm,
    OfflineConfig,
    QEnsemble,
    ensemble_mse,
    polyak_,
    td_target,
)
from rewardlab.rl.common import LeanAdam


@dataclass
class TD3BCConfig(OfflineConfig):
    # d3rlpy 2.8.1 TD3PlusBCConfig (d3rlpy/algos/qlearning/td3_plus_bc.py)
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4
    batch_size: int = 256
    tau: float = 0.005
    n_critics: int = 2
    target_smoothing_sigma: float = 0.2
    target_smoothing_clip: float = 0.5
    alpha: float = 2.5
    update_actor_interval: int = 2


def td3_target_actions(
    next_actions: torch.Tensor, noise: torch.Tensor, sigma: float, clip: float
) -> torch.Tensor:
    """Target policy smoothing: clip(pi'(s') + clip(sigma * noise, -clip, clip), -1, 1), noise ~ N(0, 1)."""
    return (next_actions + (sigma * noise).clamp(-clip, clip)).clamp(-1.0, 1.0)


def td3_bc_actor_loss(
    q_pi: torch.Tensor, pi_actions: torch.Tensor, data_actions: torch.Tensor, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(-lambda mean Q(s, pi(s)) + mean((pi(s) - a)^2), the BC term) with lambda = alpha / mean|Q|
    detached: the Q term is rescaled so alpha alone sets the RL-vs-imitation balance."""
    lam = alpha / q_pi.abs().mean().detach()
    bc = (pi_actions - data_actions).pow(2).mean()
    return -lam * q_pi.mean() + bc, bc


class TD3BC(OfflineAlgorithm):
    config_class = TD3BCConfig
    summary = "TD3+BC: TD3 with a behaviour-cloning term in the actor loss (Fujimoto & Gu 2021)"

    def build(self) -> None:
        c = self.config
        self.actor = DeterministicActor(self.obs_dim, self.act_dim, c.hidden_sizes)
        self.critic = QEnsemble(self.obs_dim, self.act_dim, c.hidden_sizes, c.n_critics)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optimizer = LeanAdam(self.actor.parameters(), lr=c.actor_learning_rate)
        self.critic_optimizer = LeanAdam(self.critic.parameters(), lr=c.critic_learning_rate)

    def update(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        obs, actions, next_obs = self.observations[idx], self.actions[idx], self.next_observations[idx]
        with torch.no_grad():
            next_actions = self.actor_target(next_obs)
            noise = torch.randn_like(next_actions)
            smoothed = td3_target_actions(
                next_actions, noise, c.target_smoothing_sigma, c.target_smoothing_clip
            )
            next_q = self.critic_target(next_obs, smoothed).min(dim=0).values
            y = td_target(self.rewards[idx], self.terminations[idx], next_q, c.gamma)
        critic_loss = ensemble_mse(self.critic(obs, actions), y)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        metrics = {"critic_loss": critic_loss.detach()}

        if self.updates % c.update_actor_interval == 0:
            pi = self.actor(obs)
            self.critic.requires_grad_(False)  # only dQ/da is needed, not the critic's weight grads
            q_pi = self.critic(obs, pi)[0]
            self.critic.requires_grad_(True)
            actor_loss, bc = td3_bc_actor_loss(q_pi, pi, actions, c.alpha)
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            polyak_(list(self.critic_target.parameters()), list(self.critic.parameters()), c.tau)
            polyak_(list(self.actor_target.parameters()), list(self.actor.parameters()), c.tau)
            metrics.update(actor_loss=actor_loss.detach(), bc_loss=bc.detach())
        return metrics

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "critic": self.critic, "actor_target": self.actor_target,
                "critic_target": self.critic_target}  # fmt: skip

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}
