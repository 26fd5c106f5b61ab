"""Token-level PPO with a value head on the policy (RLHF-style PPO for language models).

Papers: Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (arXiv 1707.06347);
Schulman et al. 2016, "High-Dimensional Continuous Control Using Generalized Advantage Estimation"
(GAE, arXiv 1506.02438); Ouyang et al. 2022 (InstructGPT: the per-token KL penalty in the reward).
The seed papers that train with it: RLVER, GTR, PPO for LLM NLU, Retroformer
(docs/lm_optimisers.md).

Peers the formulas are checked against (tests/llm/test_lm_ppo_parity.py): verl
``verl/trainer/ppo/core_algos.py`` (``compute_gae_advantage_return``, ``compute_value_loss``,
``compute_policy_loss_vanilla``, ``kl_penalty``) and its defaults in
``verl/trainer/config/ppo_trainer.yaml``.

One rollout (``LMPPO.collect`` via the shared online loop, ``online.py``)::

    prompts    <- next batch_size prompts; G completions each (G = 1 by default, as verl's PPO)
    old_logp, V <- one no-grad forward of the policy: log-probs and the value head on the last
                   hidden state of every completion token (the state in which it was chosen)
    r_t        <- score on the last trained token  - beta * KL_t   (KL in the reward; or 0 and
                  the KL as a loss term)
    A, R       <- gae_advantages(r, V, mask, gamma, lam); A whitened over the batch
    for num_iterations epochs, for num_mini_batches minibatches (one optimizer step each):
        loss = clipped_policy_loss(A) + vf_coef * clipped_value_loss(V_new, V, R) [+ beta * KL loss]

The first ``critic_warmup_steps`` optimizer steps train the value head alone (the policy does not
move), so the first policy updates see a value baseline fitted to the task's rewards.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from rewardlab.core.state import OBJECT
from rewardlab.errors import ConfigError
from rewardlab.llm.online import OnlineConfig, OnlineRL, Rollout, _pad_right, _trim
from rewardlab.llm.policy import Batch, Policy
from rewardlab.llm.token_credit import (
    KL_ESTIMATORS,
    PPOLossOutput,
    clipped_policy_loss,
    kl_estimate,
    kl_loss_term,
    masked_mean,
    masked_whiten,
    token_level_rewards,
)

KL_PENALTIES = ("reward", "loss")
CRITICS = ("shared", "head", "separate")


def gae_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 1.0,
    lam: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized Advantage Estimation over the trained tokens of each row: ``(advantages, returns)``.

    The steps of the MDP are the mask-1 tokens only. For consecutive steps t < t' (t' the next
    mask-1 token after t, whatever observation tokens lie between), ``delta_t = r_t + gamma V_t' -
    V_t`` and ``A_t = delta_t + gamma lam A_t'``; after the last step V = 0. Observation tokens
    (mask 0 inside a multi-turn completion) neither bootstrap nor discount: inserting them changes
    nothing (the verl #7278 class of bug, where they cut the return). ``returns = A + V``, the
    value target. Both outputs are 0 off the mask. Not whitened (see :func:`masked_whiten`).
    """
    mask = mask.to(values.dtype)
    B, T = values.shape
    advantages = torch.zeros_like(values)
    next_value = torch.zeros(B, dtype=values.dtype)
    running = torch.zeros(B, dtype=values.dtype)
    for t in range(T - 1, -1, -1):
        step = mask[:, t].bool()
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        gae = delta + gamma * lam * running
        advantages[:, t] = torch.where(step, gae, torch.zeros_like(gae))
        running = torch.where(step, gae, running)
        next_value = torch.where(step, values[:, t], next_value)
    returns = (advantages + values) * mask
    return advantages, returns


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    *,
    value_clip: float | None = 0.5,
    num_tokens: float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped value loss ``0.5 * token-mean(max((V - R)^2, (clip(V, V_old +- c) - R)^2))``
    and the fraction of tokens where the clipped term was the larger. ``value_clip=None``: the
    plain squared error. ``num_tokens`` as in :func:`clipped_policy_loss`."""
    mask = mask.to(values.dtype)
    unclipped = (values - returns) ** 2
    if value_clip is None:
        per_token, clipfrac = unclipped, torch.zeros(())
    else:
        clipped_v = torch.clamp(values, old_values - value_clip, old_values + value_clip)
        clipped = (clipped_v - returns) ** 2
        per_token = torch.maximum(unclipped, clipped)
        with torch.no_grad():
            clipfrac = masked_mean((clipped > unclipped).to(values.dtype), mask)
    total = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=values.dtype)
    return 0.5 * (per_token * mask).sum() / total.clamp(min=1.0), clipfrac


class ValueHead(torch.nn.Module):
    """``V(s_t) = w . h_t + b`` on the policy's last hidden state. Zero-initialised: the first
    value estimates are 0, and the first gradients cannot disturb the shared trunk."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = torch.nn.Linear(hidden_size, 1)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.float()).squeeze(-1)


@dataclass
class LMPPOConfig(OnlineConfig):
    """Token-level PPO. Defaults: verl ``ppo_trainer.yaml`` (actor/critic/algorithm) unless noted."""

    learning_rate: float = 1e-6  # verl actor.optim.lr
    critic_learning_rate: float = 1e-5  # verl critic.optim.lr (the value head's Adam step)
    num_generations: int = 1  # verl rollout.n = 1 for PPO: the critic is the baseline
    num_iterations: int = 1  # PPO epochs over each rollout (verl actor.ppo_epochs)
    num_mini_batches: int = 1  # optimizer steps per epoch, each on an equal share of the rows
    epsilon: float = 0.2  # verl actor.clip_ratio
    epsilon_high: float | None = None  # verl actor.clip_ratio_high (None = epsilon)
    clip_ratio_c: float | None = 3.0  # verl actor.clip_ratio_c, dual clip for A < 0 (None = off)
    value_clip: float | None = 0.5  # verl critic.cliprange_value
    vf_coef: float = 0.1  # TRL PPOConfig.vf_coef: value loss weight (the head shares the policy's loss)
    gamma: float = 1.0  # verl algorithm.gamma
    lam: float = 1.0  # verl algorithm.lam
    whiten_advantages: bool = True  # verl whitens GAE advantages over the batch
    beta: float = 0.0  # KL coefficient (verl kl_ctrl.kl_coef 0.001 when use_kl_in_reward)
    kl_penalty: str = (
        "reward"  # "reward": -beta*KL per token in r_t (verl use_kl_in_reward); "loss": a loss term
    )
    kl_estimator: str = ""  # k1 | k2 | k3; "" = verl's defaults: k1 in the reward, k3 (low_var_kl) as a loss
    critic_warmup_steps: int = 0  # verl trainer.critic_warmup (here in optimizer steps)
    # "shared": value gradients also train the policy's trunk (one forward, TRL's value head);
    # "head": they train the head alone (the policy's hidden state detached), a linear critic;
    # "separate": a critic model of its own (a copy of the initial policy with its own LoRA adapter,
    # verl's and OpenRLHF's layout), at the cost of a second forward and backward
    critic: str = "shared"

    min_generations = 1

    def resolved_kl_estimator(self) -> str:
        return self.kl_estimator or ("k1" if self.kl_penalty == "reward" else "k3")

    def validate(self) -> None:
        super().validate()
        if self.kl_penalty not in KL_PENALTIES:
            raise ConfigError(f"kl_penalty {self.kl_penalty!r} is not one of {', '.join(KL_PENALTIES)}")
        if self.kl_estimator and self.kl_estimator not in KL_ESTIMATORS:
            raise ConfigError(
                f"kl_estimator {self.kl_estimator!r} is not one of {', '.join(KL_ESTIMATORS)} (or '' for the default)"
            )
        if self.critic not in CRITICS:
            raise ConfigError(f"critic {self.critic!r} is not one of {', '.join(CRITICS)}")
        if self.num_mini_batches < 1:
            raise ConfigError(f"num_mini_batches must be >= 1, got {self.num_mini_batches}")
        rows = self.batch_size * self.num_generations
        if rows % self.num_mini_batches or (rows // self.num_mini_batches) % self.num_generations:
            valid = [k for k in range(1, self.batch_size + 1) if self.batch_size % k == 0]
            raise ConfigError(
                f"num_mini_batches={self.num_mini_batches} does not split batch_size={self.batch_size} prompts "
                f"x num_generations={self.num_generations} into equal minibatches of whole groups; valid: {valid}"
            )
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.lam <= 1.0:
            raise ConfigError(f"gamma and lam must be in [0, 1], got gamma={self.gamma}, lam={self.lam}")
        if self.vf_coef <= 0 or self.critic_learning_rate <= 0:
            raise ConfigError(
                f"vf_coef ({self.vf_coef}) and critic_learning_rate ({self.critic_learning_rate}) must be > 0: "
                "PPO's value head is its baseline (for PPO without a critic use reinforce-pp)"
            )
        if self.value_clip is not None and self.value_clip <= 0:
            raise ConfigError(f"value_clip must be > 0 or None (no clipping), got {self.value_clip}")
        if not 0 <= self.critic_warmup_steps < self.total_steps:
            raise ConfigError(
                f"critic_warmup_steps={self.critic_warmup_steps} must be in [0, total_steps={self.total_steps}): "
                "during the warm-up only the value head trains"
            )


class _TrainableOf:
    """A module's trainable tensors as a state_dict-style object (the separate critic's adapter)."""

    def __init__(self, module: torch.nn.Module):
        self.module = module

    def state_dict(self) -> dict[str, torch.Tensor]:
        names = {n for n, p in self.module.named_parameters() if p.requires_grad}
        return {k: v.detach().clone() for k, v in self.module.state_dict().items() if k in names}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state, strict=False)


class LMPPO(OnlineRL):
    """Token-level PPO with a value head; see the module docstring."""

    config_class = LMPPOConfig
    summary = "token-level PPO with a value head on a causal LM (LoRA): GAE, clipped value loss, KL"
    config: LMPPOConfig
    state_fields = {"value_head": OBJECT, "critic_weights": OBJECT}
    rebuilt_fields = ("critic_model",)

    def __init__(self, config: LMPPOConfig, **kwargs):
        super().__init__(config, **kwargs)
        if self.agent_loop is not None and self.agent_loop.cfg.advantage != "episode":
            raise ConfigError(
                f"[agent] advantage = {self.agent_loop.cfg.advantage!r} is a group estimator for GRPO / RLOO; "
                "lm-ppo computes its own per-token advantages with GAE (valid: advantage = 'episode', the "
                "default, with lm-ppo; 'return_to_go' with grpo or rloo)"
            )
        hidden = self.policy.model.config.get_text_config().hidden_size
        self.value_head = ValueHead(hidden)
        self.critic_model, self.critic_weights = None, None
        critic_params = list(self.value_head.parameters())
        if config.critic == "separate":
            # the initial policy: with LoRA a fresh adapter (B = 0) on the same frozen base
            self.critic_model = copy.deepcopy(self.policy.model)
            self.critic_weights = _TrainableOf(self.critic_model)
            critic_params += [p for p in self.critic_model.parameters() if p.requires_grad]
        self.optimizer.add_param_group(
            {
                "params": critic_params,
                "lr": config.critic_learning_rate,
                "lr_scale": config.critic_learning_rate / config.learning_rate,
            }
        )

    def needs_old_logprobs(self) -> bool:
        return True

    def in_warmup(self) -> bool:
        return self.global_step < self.config.critic_warmup_steps

    def critic_values(self, mb: Batch) -> torch.Tensor:
        """The separate critic's values of a (trimmed) micro-batch."""
        _, hidden = Policy._logprobs(
            self.critic_model, mb, self.config.temperature, self.group_size(), return_hidden=True
        )
        return self.value_head(hidden)

    # ---- rollout ------------------------------------------------------------------------------
    @torch.no_grad()
    def rollout_logprobs(self, batch: Batch) -> dict[str, torch.Tensor | None]:
        width = batch.completion_ids.shape[1]
        old, values = [], []
        for rows in self.micro_slices(len(batch)):
            mb = _trim(batch.rows(rows))
            if self.critic_model is None:
                lp, hidden = self.policy.logprobs(
                    mb, self.config.temperature, group_size=self.group_size(), return_hidden=True
                )
                v = self.value_head(hidden)
            else:
                lp = self.policy.logprobs(mb, self.config.temperature, group_size=self.group_size())
                v = self.critic_values(mb)
            old.append(_pad_right(lp, width))
            values.append(_pad_right(v, width))
        ref = self.no_grad_logprobs(batch, reference=True) if self.config.beta != 0.0 else None
        return {"old": torch.cat(old), "ref": ref, "values": torch.cat(values)}

    def rollout_advantages(self, rewards: torch.Tensor, parts: dict, metrics: dict):
        cfg = self.config
        batch: Batch = parts["batch"]
        mask = batch.trained_mask.to(torch.float32)
        values = parts["values"] * mask
        kl = None
        if cfg.beta != 0.0:
            kl = kl_estimate(parts["old"], parts["ref"], cfg.resolved_kl_estimator()) * mask
            metrics["kl_sampled"] = float(masked_mean(kl, mask))
        in_reward = cfg.kl_penalty == "reward"
        token_rewards = token_level_rewards(rewards, mask, kl if in_reward else None, cfg.beta)
        advantages, returns = gae_advantages(token_rewards, values, mask, cfg.gamma, cfg.lam)
        metrics["value_mean"] = float(masked_mean(values, mask))
        metrics["return_mean"] = float(masked_mean(returns, mask))
        # explained variance of the returns by the values: how good a baseline the critic is
        var_r = float(masked_mean((returns - masked_mean(returns, mask)) ** 2, mask))
        resid = returns - values
        var_e = float(masked_mean((resid - masked_mean(resid, mask)) ** 2, mask))
        # (returns constant up to rounding, e.g. every reward 0: undefined, logged as 0)
        metrics["explained_variance"] = 1.0 - var_e / var_r if var_r > 1e-8 else 0.0
        if cfg.whiten_advantages:
            advantages = masked_whiten(advantages, mask)
        return advantages, {"values": values, "returns": returns}

    # ---- minibatches --------------------------------------------------------------------------
    def updates_per_rollout(self) -> int:
        return self.config.num_iterations * self.config.num_mini_batches

    def update_rows(self, rollout: Rollout) -> slice:
        size = len(rollout.batch) // self.config.num_mini_batches
        k = rollout.uses % self.config.num_mini_batches
        return slice(k * size, (k + 1) * size)

    # ---- loss ---------------------------------------------------------------------------------
    def micro_batch_step(self, ro: Rollout, rows: slice, mb: Batch, num_tokens: torch.Tensor, num_micro: int):
        cfg = self.config
        width = mb.completion_ids.shape[1]
        mask = mb.trained_mask
        warmup = self.in_warmup()
        if self.critic_model is not None:
            logprobs = self.policy.logprobs(mb, cfg.temperature, group_size=self.group_size())
            values = self.critic_values(mb)
        else:
            logprobs, hidden = self.policy.logprobs(
                mb, cfg.temperature, group_size=self.group_size(), return_hidden=True
            )
            if warmup or cfg.critic == "head":
                hidden = hidden.detach()  # value gradients stay in the head
            values = self.value_head(hidden)
        old_values = ro.extras["values"][rows][:, :width]
        returns = ro.extras["returns"][rows][:, :width]
        value_loss, value_clipfrac = clipped_value_loss(
            values, old_values, returns, mask, value_clip=cfg.value_clip, num_tokens=num_tokens
        )
        old = ro.old_logprobs[rows][:, :width]
        out = clipped_policy_loss(
            logprobs,
            old,
            ro.advantages[rows][:, :width],
            mask,
            epsilon=cfg.epsilon,
            epsilon_high=cfg.epsilon_high,
            clip_ratio_c=cfg.clip_ratio_c,
            num_tokens=num_tokens,
        )
        loss = cfg.vf_coef * value_loss
        if not warmup:
            loss = loss + out.loss
        if cfg.beta != 0.0 and cfg.kl_penalty == "loss":
            ref = ro.ref_logprobs[rows][:, :width]
            kl = kl_loss_term(logprobs, ref, mask, cfg.resolved_kl_estimator(), num_tokens)
            if not warmup:
                loss = loss + cfg.beta * kl
            out.kl_loss = kl.detach()
        # logged as this micro-batch's own token means (the loop weights them by its token share)
        per_micro = float(num_tokens) / max(float(mask.sum()), 1.0)
        if out.kl_loss is not None:
            out.kl_loss = out.kl_loss * per_micro
        out.value_loss = value_loss.detach() * per_micro
        out.value_clip_fraction = value_clipfrac
        return loss, out

    def step(self) -> dict[str, float]:
        metrics = super().step()
        metrics["critic_warmup"] = float(self.global_step <= self.config.critic_warmup_steps)
        return metrics


__all__ = [
    "LMPPO",
    "LMPPOConfig",
    "PPOLossOutput",
    "ValueHead",
    "clipped_value_loss",
    "gae_advantages",
]
