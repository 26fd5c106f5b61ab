"""Soft Actor-Critic (Haarnoja et al., 2018: "Soft Actor-Critic Algorithms and Applications").

A stochastic tanh-squashed Gaussian actor, twin critics with Polyak-averaged targets, and an entropy
temperature alpha tuned towards a target entropy (-|A| by default). Each gradient step, in
Stable-Baselines3's order (stable_baselines3/sac/sac.py ``train``):

1. sample a minibatch; draw a ~ pi(.|s) with its log-probability (kept in the graph);
2. alpha loss ``-log_alpha * (log pi(a|s) + target_entropy)`` and one Adam step on log alpha; the
   value of alpha used below is the one *before* this step;
3. critic target ``y = r + (1 - terminated) gamma (min_i Q'_i(s', a') - alpha log pi(a'|s'))`` with
   a' ~ pi(.|s'); critic loss ``0.5 sum_i MSE(Q_i(s, a), y)``; one Adam step;
4. actor loss ``mean(alpha log pi(a|s) - min_i Q_i(s, a))`` with the updated critics and the
   actions of step 1; one Adam step;
5. Polyak update of the target critics (every ``target_update_interval`` updates).

``update_order = "cleanrl"`` gives CleanRL's sac_continuous_action.py instead: the critic step
first, then (every ``policy_frequency`` updates) ``policy_frequency`` actor steps, each on a fresh
sample, each followed by an alpha step on another fresh sample with the loss
``-alpha (log pi + target_entropy)`` (``alpha_loss_on = "alpha"``). examples/sac_cleanrl.toml sets
that and CleanRL's other choices. Log-probabilities are always taken in the normalised [-1, 1]
action space (SB3); CleanRL takes them in env units, which shifts the entropy by
-sum(log(action_scale)) and so the alpha that a target entropy yields.

Speed (same numbers): the twin critics are one batched network; the actor's backward pass does
not compute critic weight gradients (only dQ/da is needed); the target update is two fused
``_foreach`` calls; replay indices are drawn once per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rewardlab.errors import ConfigError
from rewardlab.rl.common import LeanAdam
from rewardlab.rl.distributions import squashed_gaussian_sample
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
class SACConfig(OffPolicyConfig):
    # Defaults: Stable-Baselines3 2.9 SAC class defaults (sac/sac.py, sac/policies.py), field by
    # field: learning_rate 3e-4, buffer_size 1e6, learning_starts 100, batch_size 256, tau 0.005,
    # gamma 0.99, train_freq 1, gradient_steps 1 (OffPolicyConfig); then:
    ent_coef: float | str = "auto"  # "auto" (learned, starts at 1), "auto_0.1" (starts at 0.1), or fixed
    target_entropy: float | str = "auto"  # "auto" = -prod(action shape)
    target_update_interval: int = 1  # gradient steps between target updates
    hidden_sizes: tuple[int, ...] = (256, 256)  # sac/policies.py net_arch default
    log_std_min: float = -20.0  # sac/policies.py LOG_STD_MIN
    log_std_max: float = 2.0  # sac/policies.py LOG_STD_MAX
    # rewardlab's switches for CleanRL's variant (SB3 values here):
    log_std_mode: str = "clip"  # clip (SB3 clamp) | tanh (CleanRL: tanh then affine into [min, max])
    critic_learning_rate: float | None = None  # None = learning_rate (SB3: one lr; CleanRL q_lr 1e-3)
    alpha_learning_rate: float | None = None  # None = learning_rate (SB3); CleanRL uses q_lr
    alpha_loss_on: str = "log_alpha"  # log_alpha (SB3, softlearning#37) | alpha (CleanRL)
    update_order: str = "sb3"  # sb3 | cleanrl (see the module docstring)
    policy_frequency: int = 1  # actor+alpha updates every k critic updates, k of them (CleanRL: 2)

    def validate(self) -> None:
        super().validate()
        for key, valid in (("log_std_mode", ("clip", "tanh")), ("alpha_loss_on", ("log_alpha", "alpha")),
                           ("update_order", ("sb3", "cleanrl"))):  # fmt: skip
            if getattr(self, key) not in valid:
                raise ConfigError(
                    f"config key {key!r}: {getattr(self, key)!r} is not one of {', '.join(valid)}"
                )
        for key in ("target_update_interval", "policy_frequency"):
            if getattr(self, key) < 1:
                raise ConfigError(f"config key {key!r}: must be >= 1, got {getattr(self, key)}")
        initial_alpha(self.ent_coef)
        if isinstance(self.target_entropy, str) and self.target_entropy != "auto":
            raise ConfigError(
                f"config key 'target_entropy': {self.target_entropy!r} is not 'auto' or a number"
            )


def initial_alpha(ent_coef: float | str) -> tuple[float, bool]:
    """(initial alpha, learned?) from SB3's ``ent_coef`` spelling: "auto", "auto_<init>" or a number."""
    if isinstance(ent_coef, str):
        if ent_coef == "auto":
            return 1.0, True
        if ent_coef.startswith("auto_"):
            try:
                value = float(ent_coef[5:])
            except ValueError:
                value = -1.0
            if value > 0:
                return value, True
        raise ConfigError(
            f"config key 'ent_coef': {ent_coef!r} is not 'auto', 'auto_<initial value > 0>' or a number"
        )
    if ent_coef < 0:
        raise ConfigError(f"config key 'ent_coef': must be >= 0, got {ent_coef}")
    return float(ent_coef), False


# ---------------------------------------------------------------------------------------------
# The losses, as pure functions


def sac_critic_target(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    discounts: torch.Tensor | float,
    next_q: torch.Tensor,
    next_log_prob: torch.Tensor,
    alpha: torch.Tensor | float,
) -> torch.Tensor:
    """y = r + (1 - terminated) gamma (min_i Q'_i(s', a') - alpha log pi(a'|s')); ``next_q`` is
    (n_critics, batch). A time-limit truncation is not a termination: it bootstraps."""
    soft_value = next_q.min(dim=0).values - alpha * next_log_prob
    return critic_targets(rewards, dones, discounts, soft_value)


def sac_critic_loss(q_values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0.5 * sum_i MSE(Q_i(s, a), y), as SB3 (the 1/2 of the soft Bellman residual, eq. 5)."""
    return 0.5 * twin_critic_loss(q_values, targets)


def sac_actor_loss(log_prob: torch.Tensor, q_pi: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """mean(alpha log pi(a|s) - min_i Q_i(s, a)) for a ~ pi(.|s) (eq. 7); ``q_pi`` is (n, batch)."""
    return (alpha * log_prob - q_pi.min(dim=0).values).mean()


def sac_alpha_loss(
    log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float, on: str = "log_alpha"
) -> torch.Tensor:
    """Temperature loss (eq. 18): ``-mean(log_alpha (log pi + H))`` with the gradient through log
    alpha (SB3), or ``-mean(alpha (log pi + H))`` through alpha (CleanRL). ``log_prob`` carries no
    gradient here. Either way alpha grows when the policy's entropy -log pi is below H."""
    weight = log_alpha if on == "log_alpha" else log_alpha.exp()
    return -(weight * (log_prob.detach() + target_entropy)).mean()


# ---------------------------------------------------------------------------------------------
# The actor


class SquashedGaussianActor(nn.Module):
    """obs -> (mean, log_std) of the pre-tanh Gaussian: a ReLU MLP, then two linear heads (SB3's
    sac/policies.py Actor)."""

    def __init__(self, obs_dim: int, hidden: tuple[int, ...], action_dim: int, log_std_bounds: tuple[float, float],
                 log_std_mode: str = "clip"):  # fmt: skip
        super().__init__()
        self.latent = relu_mlp(obs_dim, hidden)
        self.mu = nn.Linear(hidden[-1], action_dim)
        self.log_std = nn.Linear(hidden[-1], action_dim)
        self.log_std_min, self.log_std_max = log_std_bounds
        self.log_std_mode = log_std_mode

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.latent(obs)
        log_std = self.log_std(h)
        if self.log_std_mode == "clip":
            log_std = torch.clamp(log_std, self.log_std_min, self.log_std_max)
        else:  # CleanRL: a smooth squash into [min, max]
            log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (
                torch.tanh(log_std) + 1
            )
        return self.mu(h), log_std

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return squashed_gaussian_sample(*self(obs))


# ---------------------------------------------------------------------------------------------
# The algorithm


class SAC(OffPolicyAlgorithm):
    config_class = SACConfig
    algo_name = "sac"
    summary = "Soft Actor-Critic: twin critics, squashed Gaussian actor, tuned entropy (Haarnoja et al. 2018)"
    config: SACConfig
    # parameter lists of the networks (references) and constants of the config
    rebuilt_fields = ("critic_params", "target_params", "learn_alpha", "target_entropy")

    def __init__(self, config: SACConfig):
        super().__init__(config)
        c = self.config
        self.actor = SquashedGaussianActor(self.obs_dim, c.hidden_sizes, self.action_dim,
                                           (c.log_std_min, c.log_std_max), c.log_std_mode)  # fmt: skip
        critic_in = self.obs_dim + self.critic_obs_dim + self.action_dim
        self.critic = EnsembleCritic(critic_in, c.hidden_sizes, c.n_critics)
        self.critic_target = EnsembleCritic(critic_in, c.hidden_sizes, c.n_critics)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.actor_optimizer = LeanAdam(list(self.actor.parameters()), lr=c.learning_rate)
        self.critic_optimizer = LeanAdam(
            list(self.critic.parameters()), lr=c.critic_learning_rate or c.learning_rate
        )
        alpha0, self.learn_alpha = initial_alpha(c.ent_coef)
        # log alpha has SB3's shape (1,), so its tensors copy across in the parity test
        self.log_alpha = nn.ParameterList([nn.Parameter(torch.log(torch.ones(1) * alpha0))])
        self.alpha_optimizer = LeanAdam(
            list(self.log_alpha.parameters()), lr=c.alpha_learning_rate or c.learning_rate
        )
        self.target_entropy = (
            -float(self.action_dim) if c.target_entropy == "auto" else float(c.target_entropy)
        )
        self.critic_params = list(self.critic.parameters())
        self.target_params = list(self.critic_target.parameters())

    # -- acting ---------------------------------------------------------------------------------

    def _policy_actions(self, obs: torch.Tensor) -> torch.Tensor:
        # sample()'s draw without its log-probability, which acting does not use (a fifth of the
        # cost of choosing an action); the same arithmetic and the same random numbers.
        mean, log_std = self.actor(obs)
        return torch.tanh(mean + torch.randn_like(mean) * log_std.exp())

    def _act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.actor(obs)[0])

    # -- learning -------------------------------------------------------------------------------

    def _alpha_step(self, log_prob: torch.Tensor) -> torch.Tensor:
        loss = sac_alpha_loss(self.log_alpha[0], log_prob, self.target_entropy, self.config.alpha_loss_on)
        self.alpha_optimizer.zero_grad()
        loss.backward()
        self.alpha_optimizer.update()
        return loss.detach()

    def _actor_step(self, critic_obs: torch.Tensor, actions_pi: torch.Tensor, log_prob: torch.Tensor, alpha):
        # Only dQ/da is needed: freezing the critic's weights skips their gradient matmuls.
        for p in self.critic_params:
            p.requires_grad_(False)
        loss = sac_actor_loss(log_prob, self.critic(critic_obs, actions_pi), alpha)
        self.actor_optimizer.zero_grad()
        loss.backward()
        for p in self.critic_params:
            p.requires_grad_(True)
        self.actor_optimizer.update()
        return loss.detach()

    def _update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.config
        obs = batch["obs"]
        critic_obs, next_critic_obs = self._critic_inputs(batch)  # asymmetric: + privileged part
        alpha = self.log_alpha[0].detach().exp()
        out: dict[str, torch.Tensor] = {}
        policy_step = self.n_updates % c.policy_frequency == 0
        drawn = None
        if policy_step and c.update_order == "sb3":
            drawn = self.actor.sample(obs)
            if self.learn_alpha:
                out["alpha_loss"] = self._alpha_step(drawn[1])

        with torch.no_grad():
            next_actions, next_log_prob = self.actor.sample(batch["next_obs"])
            next_q = self.critic_target(next_critic_obs, next_actions)
            targets = sac_critic_target(batch["rewards"], batch["dones"], self._discounts(batch), next_q,
                                        next_log_prob, alpha)  # fmt: skip
        q_values = self.critic(critic_obs, batch["actions"])
        critic_loss = sac_critic_loss(q_values, targets)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.update()
        out.update(critic_loss=critic_loss.detach(), q_mean=q_values.detach().mean(), alpha=alpha[0])

        if policy_step:
            for _ in range(1 if c.update_order == "sb3" else c.policy_frequency):
                actions_pi, log_prob = drawn if drawn is not None else self.actor.sample(obs)
                out["actor_loss"] = self._actor_step(critic_obs, actions_pi, log_prob, alpha)
                out["entropy"] = -log_prob.detach().mean()
                if c.update_order == "cleanrl" and self.learn_alpha:
                    with torch.no_grad():
                        fresh_log_prob = self.actor.sample(obs)[1]
                    out["alpha_loss"] = self._alpha_step(fresh_log_prob)
                    alpha = self.log_alpha[0].detach().exp()
        if self.n_updates % c.target_update_interval == 0:
            polyak_update_(self.target_params, self.critic_params, c.tau)
        self.n_updates += 1
        return out

    def _modules(self) -> dict[str, Any]:
        return {
            "actor": self.actor, "critic": self.critic, "critic_target": self.critic_target,
            "log_alpha": self.log_alpha, "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer, "alpha_optimizer": self.alpha_optimizer,
        }  # fmt: skip
