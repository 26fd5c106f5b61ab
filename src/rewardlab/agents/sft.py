"""Thought-cloning warm start: supervised fine-tuning on the env's own expert episodes.

A small model that never calls a tool gives RL no tool-use signal (SmolLM2 on calc-tool: 0 calls in
10 episodes, see docs/agents.md). GTR trains on corrected thoughts (``thought_cloning_coef``) and
Mobile-R1 starts from a format-SFT stage; here the expert is the env's :meth:`ChatEnv.oracle`,
played through the same :class:`~rewardlab.agents.rollout.AgentLoop` as the policy, so the
training rows are token-exact episodes: the oracle's turns (tool calls and answers) tokenized
as the policy would have sampled them, observations inserted as template deltas. The loss is the
negative log-likelihood of the **action tokens only** (loss mask 1 = what the agent wrote; the
prompt, tool results and template boundaries are context, never targets).

``[agent] sft_steps = N`` runs N such steps before the first GRPO step of a fresh run (a resumed
run already holds the warm-started weights and skips it).
"""

from __future__ import annotations

import random
import time
from typing import Any

import torch

from rewardlab.errors import ConfigError


def masked_nll(logprobs: torch.Tensor, mask: torch.Tensor, num_tokens: Any = None) -> torch.Tensor:
    """Negative log-likelihood summed over the mask-1 tokens, divided by ``num_tokens`` (default:
    their count, i.e. the mean; pass the whole batch's count for a micro-batch's share of it)."""
    mask = mask.to(logprobs.dtype)
    denominator = mask.sum().clamp(min=1.0) if num_tokens is None else num_tokens
    return -(logprobs * mask).sum() / denominator


def clone_oracle(
    loop: Any,
    *,
    steps: int,
    batch_size: int = 8,
    learning_rate: float = 1e-4,
    seed: int = 0,
    split: str = "train",
    micro_batch_size: int = 8,
) -> dict[str, float]:
    """``steps`` AdamW steps of :func:`masked_nll` on fresh oracle episodes of ``split``'s problems.

    Returns ``sft/loss_first``, ``sft/loss_last``, ``sft/action_tokens`` and ``sft/seconds``."""
    from rewardlab.agents.rollout import oracle_actor

    if steps < 1 or batch_size < 1 or micro_batch_size < 1:
        raise ConfigError(
            f"thought-cloning SFT needs steps, batch_size and micro_batch_size >= 1, "
            f"got {steps}, {batch_size}, {micro_batch_size}"
        )
    if loop.cfg.context != "append":
        raise ConfigError(
            "thought-cloning SFT builds one row per episode; it needs [agent] context = 'append'"
        )
    policy = loop.policy
    examples = list(loop.task.examples(split))
    if not examples:
        raise ConfigError(f"env {loop.env_name!r} has no {split!r} problems to clone the oracle on")
    params = [p for p in policy.trainable_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    rng = random.Random(seed)
    start = time.perf_counter()
    losses: list[float] = []
    tokens = 0
    policy.model.train()
    for step in range(steps):
        chosen = [rng.choice(examples) for _ in range(batch_size)]
        seeds = [seed * 7919 + step * batch_size + j for j in range(batch_size)]
        episodes = loop.run(chosen, num_generations=1, seeds=seeds, actor=oracle_actor)
        batch = loop.to_batch(episodes, 1)
        mask = batch.trained_mask
        n = mask.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for lo in range(0, len(batch), micro_batch_size):
            rows = slice(lo, lo + micro_batch_size)
            mb = batch.rows(rows)
            lp = policy.logprobs(mb, 1.0)
            m = mask[rows][:, : lp.shape[1]]
            loss = masked_nll(lp, m, n)  # this micro-batch's share of the batch mean
            loss.backward()
            total += float(loss.detach())
        optimizer.step()
        losses.append(total)
        tokens += int(mask.sum())
    optimizer.zero_grad(set_to_none=True)
    return {
        "sft/loss_first": losses[0],
        "sft/loss_last": losses[-1],
        "sft/action_tokens": float(tokens),
        "sft/seconds": time.perf_counter() - start,
    }


__all__ = ["clone_oracle", "masked_nll"]
