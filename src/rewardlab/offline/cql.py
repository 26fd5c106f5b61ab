"""Conservative Q-Learning (Kumar, Zhou, Tucker & Levine, 2020, arXiv:2006.04779), continuous actions.

SAC on the dataset plus a penalty that pushes Q down on actions the data does not contain. Each
gradient step, as d3rlpy's CQLImpl on top of its SACImpl (d3rlpy/algos/qlearning/torch/cql_impl.py,
sac_impl.py):

1. Critics: y = r + gamma (1 - terminated) min_i Q'_i(s', tanh(mu(s'))) -- d3rlpy's default
   *deterministic* backup (``soft_q_backup=False``: no entropy term, the policy's mean action).
   The conservative term per critic (:func:`cql_conservative_loss`) is
   w (logsumexp over 3n importance-weighted samples - Q(s, a_data) - threshold): n actions from
   pi(.|s), n from pi(.|s') (both scored at s), n uniform in [-1, 1]^d. It enters the loss scaled
   by alpha = clamp(exp(log_alpha), 0, 1e6), and alpha is first stepped to *maximise*
   alpha x (conservative term) (the Lagrangian form: alpha grows while the gap exceeds the threshold).
2. Actor (SAC): a ~ pi(.|s) reparameterised, temperature step on -(temp (log pi + target_entropy)),
   then the actor loss mean(temp log pi - min_i Q_i(s, a)) with the updated temperature.
3. Polyak update of the target critics.

The policy is a tanh-squashed Gaussian with a state-dependent log-std clamped to [-20, 2] (d3rlpy
``create_normal_policy`` defaults, as SAC).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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
class CQLConfig(OfflineConfig):
    # d3rlpy 2.8.1 CQLConfig (d3rlpy/algos/qlearning/cql.py)
    actor_learning_rate: float = 1e-4
    critic_learning_rate: float = 3e-4
    temp_learning_rate: float = 1e-4
    alpha_learning_rate: float = 1e-4  # 0 = fixed alpha (d3rlpy's D4RL reproduction)
    batch_size: int = 256
    tau: float = 0.005
    n_critics: int = 2
    initial_temperature: float = 1.0
    initial_alpha: float = 1.0
    alpha_threshold: float = 10.0
    conservative_weight: float = 5.0
    n_action_samples: int = 10


# ---------------------------------------------------------------------------------------------
# The math


def squashed_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log pi(tanh(u)) for u ~ N(mean, exp(log_std)): the Gaussian log-density minus the tanh
    Jacobian log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) (the stable form), summed."""
    gauss = -0.5 * ((u - mean) / log_std.exp()).pow(2) - log_std - LOG_SQRT_2PI
    return (gauss - 2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)


def cql_conservative_loss(
    policy_values: torch.Tensor,
    policy_log_probs: torch.Tensor,
    next_policy_values: torch.Tensor,
    next_policy_log_probs: torch.Tensor,
    random_values: torch.Tensor,
    random_log_prob: float,
    data_values: torch.Tensor,
    weight: float,
    threshold: float,
) -> torch.Tensor:
    """Per critic: w (mean_s[logsumexp_j(Q(s, a_j) - log p(a_j))] - mean_s Q(s, a_data) - threshold).

    Values are (n_critics, B, n) for the samples and (n_critics, B) for the data actions; log-probs
    (B, n) of the sampling distributions (pi at s, pi at s', uniform) are subtracted, which turns
    the logsumexp into an importance-sampled estimate of log sum_a exp Q(s, a). Returns (n_critics,).
    """
    stacked = torch.cat(
        [
            policy_values - policy_log_probs.unsqueeze(0),
            next_policy_values - next_policy_log_probs.unsqueeze(0),
            random_values - random_log_prob,
        ],
        dim=2,
    )
    gap = torch.logsumexp(stacked, dim=2) - data_values  # (n_critics, B)
    return weight * (gap.mean(dim=1) - threshold)


def sac_temperature_loss(
    log_temp: torch.Tensor, log_probs: torch.Tensor, target_entropy: float
) -> torch.Tensor:
    """-mean(exp(log_temp) (log pi + target_entropy)), the log-probs held fixed (d3rlpy SACImpl.update_temp:
    the gradient flows through exp(log_temp))."""
    return -(log_temp.exp() * (log_probs.detach() + target_entropy)).mean()


def cql_alpha_loss(log_alpha: torch.Tensor, conservative: torch.Tensor) -> torch.Tensor:
    """-(clamp(exp(log_alpha), 0, 1e6) x conservative term).mean(): alpha rises while the gap
    exceeds the threshold and falls below it."""
    return -(log_alpha.exp().clamp(0, 1e6) * conservative.detach()).mean()


class SquashedGaussianPolicy(nn.Module):
    """a = tanh(u), u ~ N(mu(s), exp(log_std(s))), log_std clamped to [-20, 2]."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.net = mlp_relu(obs_dim, hidden, 2 * act_dim)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        return mean, log_std.clamp(-20.0, 2.0)

    def sample(self, obs: torch.Tensor, n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised (action, log pi(action)); with ``n``, n samples per state: (B, n, d), (B, n)."""
        mean, log_std = self(obs)
        if n is not None:
            mean, log_std = mean.unsqueeze(1).expand(-1, n, -1), log_std.unsqueeze(1).expand(-1, n, -1)
        u = mean + log_std.exp() * torch.randn_like(mean)
        return torch.tanh(u), squashed_gaussian_log_prob(u, mean, log_std)


class CQL(OfflineAlgorithm):
    config_class = CQLConfig
    summary = "Conservative Q-Learning (SAC + a penalty on out-of-data actions; Kumar et al. 2020)"
    rebuilt_fields = ("target_entropy",)

    def build(self) -> None:
        c = self.config
        self.policy = SquashedGaussianPolicy(self.obs_dim, self.act_dim, c.hidden_sizes)
        self.critic = QEnsemble(self.obs_dim, self.act_dim, c.hidden_sizes, c.n_critics)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # log-temperature and log-alpha as modules, so checkpoints and the NaN guard see them
        self.log_temp = nn.ParameterDict(
            {"value": nn.Parameter(torch.tensor(math.log(c.initial_temperature)))}
        )
        self.log_alpha = nn.ParameterDict({"value": nn.Parameter(torch.tensor(math.log(c.initial_alpha)))})
        self.actor_optimizer = LeanAdam(self.policy.parameters(), lr=c.actor_learning_rate)
        self.critic_optimizer = LeanAdam(self.critic.parameters(), lr=c.critic_learning_rate)
        self.temp_optimizer = LeanAdam(self.log_temp.parameters(), lr=c.temp_learning_rate)
        self.alpha_optimizer = LeanAdam(self.log_alpha.parameters(), lr=max(c.alpha_learning_rate, 1e-30))
        self.target_entropy = -float(self.act_dim)

    def _conservative(self, obs: torch.Tensor, next_obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        c, n = self.config, self.config.n_action_samples
        b = obs.shape[0]
        obs_n = obs.unsqueeze(1).expand(-1, n, -1).reshape(b * n, -1)
        with torch.no_grad():  # d3rlpy: detach_policy_output=True
            a_t, logp_t = self.policy.sample(obs, n)
            a_tp1, logp_tp1 = self.policy.sample(next_obs, n)
        random_actions = torch.empty(b * n, self.act_dim).uniform_(-1.0, 1.0)
        q = self.critic
        values_t = q(obs_n, a_t.reshape(b * n, -1)).view(-1, b, n)
        values_tp1 = q(obs_n, a_tp1.reshape(b * n, -1)).view(-1, b, n)
        values_rand = q(obs_n, random_actions).view(-1, b, n)
        return cql_conservative_loss(
            values_t, logp_t, values_tp1, logp_tp1, values_rand, math.log(0.5**self.act_dim),
            q(obs, actions), c.conservative_weight, c.alpha_threshold,
        )  # fmt: skip

    def update(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        obs, actions, next_obs = self.observations[idx], self.actions[idx], self.next_observations[idx]
        log_alpha, log_temp = self.log_alpha["value"], self.log_temp["value"]
        with torch.no_grad():
            next_q = self.critic_target(next_obs, torch.tanh(self.policy(next_obs)[0])).min(dim=0).values
            y = td_target(self.rewards[idx], self.terminations[idx], next_q, c.gamma)
        td_loss = ensemble_mse(self.critic(obs, actions), y)
        conservative = self._conservative(obs, next_obs, actions)
        if c.alpha_learning_rate > 0:
            alpha_loss = cql_alpha_loss(log_alpha, conservative)
            self.alpha_optimizer.zero_grad()
            alpha_loss.backward()
            self.alpha_optimizer.step()
        alpha = log_alpha.detach().exp().clamp(0, 1e6)
        critic_loss = td_loss + (alpha * conservative).sum()
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()

        a, logp = self.policy.sample(obs)
        temp_loss = sac_temperature_loss(log_temp, logp, self.target_entropy)
        self.temp_optimizer.zero_grad()
        temp_loss.backward()
        self.temp_optimizer.step()
        self.critic.requires_grad_(False)
        q_pi = self.critic(obs, a).min(dim=0).values
        self.critic.requires_grad_(True)
        actor_loss = (log_temp.detach().exp() * logp - q_pi).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        polyak_(list(self.critic_target.parameters()), list(self.critic.parameters()), c.tau)
        return {
            "td_loss": td_loss.detach(),
            "conservative_loss": (alpha * conservative).sum().detach(),
            "alpha": alpha,
            "actor_loss": actor_loss.detach(),
            "temperature": log_temp.detach().exp(),
        }

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.policy(obs)[0])

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy, "critic": self.critic, "critic_target": self.critic_target,
                "log_temp": self.log_temp, "log_alpha": self.log_alpha}  # fmt: skip

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer,
                "temp": self.temp_optimizer, "alpha": self.alpha_optimizer}  # fmt: skip
