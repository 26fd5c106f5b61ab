"""Implicit Q-Learning (Kostrikov, Nair & Levine, 2021, arXiv:2110.06169).

IQL never queries Q at actions outside the data. Each gradient step, as d3rlpy's IQLImpl
(d3rlpy/algos/qlearning/torch/iql_impl.py):

1. Value: V(s) is fit to min_i Q'_i(s, a) (target critics, data actions) by the *expectile* loss
   |tau - 1[u < 0]| u^2, u = Q' - V: with tau = 0.7 V approaches an upper expectile, an in-sample
   stand-in for max_a Q.
2. Critics: y = r + gamma (1 - terminated) V(s'), loss sum_i MSE(Q_i(s, a), y). Steps 1 and 2 share
   one optimizer and one backward pass (loss = q_loss + v_loss), as d3rlpy does.
3. Actor: advantage-weighted regression, -mean(min(exp(beta (Q'(s, a) - V(s))), max_weight) log pi(a|s))
   with a Gaussian policy N(tanh(mu(s)), sigma) whose log-std is one learnt vector squashed into
   [-5, 2] by a sigmoid (d3rlpy ``create_normal_policy(min_logstd=-5, max_logstd=2,
   use_std_parameter=True)``).
4. Polyak update of the target critics.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from rewardlab.offline.common import (
    OfflineAlgorithm,
    OfflineConfig,
    QEnsemble,
    ensemble_mse,
    mlp_relu,
    polyak_,
    td_target,
)
from rewardlab.rl.common import LeanAdam
from rewardlab.rl.distributions import LOG_SQRT_2PI


@dataclass
class IQLConfig(OfflineConfig):
    # d3rlpy 2.8.1 IQLConfig (d3rlpy/algos/qlearning/iql.py)
    actor_learning_rate: float = 3e-4
    critic_learning_rate: float = 3e-4  # critics and value function together
    batch_size: int = 256
    tau: float = 0.005
    n_critics: int = 2
    expectile: float = 0.7
    weight_temp: float = 3.0  # beta, the inverse temperature of the advantage weights
    max_weight: float = 100.0


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """mean(|tau - 1[u < 0]| u^2) with u = target - prediction."""
    weight = (expectile - (diff < 0).float()).abs()
    return (weight * diff.pow(2)).mean()


def awr_weights(q: torch.Tensor, v: torch.Tensor, temperature: float, max_weight: float) -> torch.Tensor:
    """min(exp(beta (Q - V)), max_weight): the clipped exponentiated advantage."""
    return (temperature * (q - v)).exp().clamp(max=max_weight)


def awr_actor_loss(log_probs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """-mean(w log pi(a|s)), the weights held fixed."""
    return -(weights.detach() * log_probs).mean()


def gaussian_log_prob(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(a; mean, exp(log_std)) summed over action dimensions."""
    return (-0.5 * ((actions - mean) / log_std.exp()).pow(2) - log_std - LOG_SQRT_2PI).sum(-1)


class GaussianPolicy(nn.Module):
    """N(tanh(mu(s)), exp(log_std)) with log_std = min + sigmoid(p) (max - min) from one learnt
    vector p (zeros at start: log_std = -1.5, the middle of [-5, 2])."""

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], min_log_std=-5.0, max_log_std=2.0
    ):
        super().__init__()
        self.mu = mlp_relu(obs_dim, hidden, act_dim)
        self.log_std_param = nn.Parameter(torch.zeros(1, act_dim))
        self.min_log_std, self.max_log_std = min_log_std, max_log_std

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tanh(self.mu(obs))
        log_std = self.min_log_std + torch.sigmoid(self.log_std_param) * (self.max_log_std - self.min_log_std)
        return mean, log_std.expand_as(mean)


class IQL(OfflineAlgorithm):
    config_class = IQLConfig
    summary = (
        "Implicit Q-Learning: expectile value, in-sample TD, advantage-weighted actor (Kostrikov et al. 2021)"
    )

    def build(self) -> None:
        c = self.config
        self.policy = GaussianPolicy(self.obs_dim, self.act_dim, c.hidden_sizes)
        self.critic = QEnsemble(self.obs_dim, self.act_dim, c.hidden_sizes, c.n_critics)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.value = mlp_relu(self.obs_dim, c.hidden_sizes, 1)
        self.actor_optimizer = LeanAdam(self.policy.parameters(), lr=c.actor_learning_rate)
        self.critic_optimizer = LeanAdam(
            [*self.critic.parameters(), *self.value.parameters()], lr=c.critic_learning_rate
        )

    def update(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        obs, actions, next_obs = self.observations[idx], self.actions[idx], self.next_observations[idx]
        with torch.no_grad():
            y = td_target(
                self.rewards[idx], self.terminations[idx], self.value(next_obs).squeeze(-1), c.gamma
            )
            q_target = self.critic_target(obs, actions).min(dim=0).values
        v = self.value(obs).squeeze(-1)
        v_loss = expectile_loss(q_target - v, c.expectile)
        q_loss = ensemble_mse(self.critic(obs, actions), y)
        self.critic_optimizer.zero_grad()
        (q_loss + v_loss).backward()
        self.critic_optimizer.step()

        # d3rlpy computes the actor's weights after the critic step, with the updated V
        with torch.no_grad():
            weights = awr_weights(q_target, self.value(obs).squeeze(-1), c.weight_temp, c.max_weight)
        mean, log_std = self.policy(obs)
        actor_loss = awr_actor_loss(gaussian_log_prob(actions, mean, log_std), weights)
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        polyak_(list(self.critic_target.parameters()), list(self.critic.parameters()), c.tau)
        return {
            "q_loss": q_loss.detach(),
            "v_loss": v_loss.detach(),
            "actor_loss": actor_loss.detach(),
            "mean_weight": weights.mean(),
        }

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy(obs)[0]

    def modules(self) -> dict[str, nn.Module]:
        return {
            "policy": self.policy,
            "critic": self.critic,
            "critic_target": self.critic_target,
            "value": self.value,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}
