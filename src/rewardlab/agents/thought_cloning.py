"""GTR's thought cloning during RL: an SFT term on expert turns at the states the policy visited.

GTR (Guided Thought Reinforcement) trains a multi-turn agent with PPO and, at every step, asks a
corrector for a corrected thought at the state the agent was in; the corrected thought is an SFT
label added to the RL loss with a coefficient (``thought-prob-coef`` 0.5 in GTR's 24-points
script). Here the objective is

    L = L_RL + coef * NLL(expert turn tokens | the episode's token stream up to that turn)

with the NLL averaged over the expert tokens (:func:`rewardlab.agents.sft.masked_nll`). The
labels are DAgger-like: they sit on the policy's own states, not the expert's, so the term
corrects the mistakes the policy actually makes.

Where the expert turn comes from (``[agent] thought_cloning_source``):

* ``corrector`` -- the env's ``info["corrected_turn"]`` after a turn it judged wrong (points24's
  solver-based corrector writes the turn with the corrected thought and the right token; a turn
  without it is not cloned, as GTR only corrects flawed thoughts);
* ``oracle`` -- the env's :meth:`~rewardlab.agents.env.ChatEnv.oracle` at every visited state.

The context is the trajectory's own token ids (prompt, sampled turns, observation deltas) up to
the turn's first sampled token, so nothing is re-tokenized; the target is the expert text
tokenized as the scripted actors are (plus EOS, the end of an assistant turn).
"""

from __future__ import annotations

from typing import Any

import torch

from rewardlab.agents.sft import masked_nll
from rewardlab.llm.policy import Batch


def thought_cloning_loss(
    clone_logprobs: torch.Tensor,
    clone_mask: torch.Tensor,
    coef: float,
    rl_loss: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """GTR's objective: ``rl_loss + coef * mean NLL`` of the mask-1 expert tokens.

    ``clone_logprobs`` (rows, tokens): the policy's log-probs of the expert tokens; ``clone_mask``
    marks the real (non-pad) ones. ``rl_loss = 0`` gives the term alone (the trainer backpropagates
    it after the RL micro-batches: the gradients add up to those of the sum)."""
    return rl_loss + coef * masked_nll(clone_logprobs, clone_mask)


def expert_batch(loop: Any, episodes: list[Any]) -> Batch | None:
    """One row per turn that has an expert label: context = prompt + the stream before the turn,
    completion = the expert's tokens + EOS. None when no turn has a label."""
    encode = loop.renderer.encode
    eos = loop.policy.eos_token_id
    pad = loop.policy.pad_token_id
    contexts, targets = [], []
    for ep in episodes:
        stream = ep.trajectory.prompt_ids + ep.trajectory.ids
        offset = len(ep.trajectory.prompt_ids)
        for turn in ep.turns:
            if turn.expert is None:
                continue
            target = encode(turn.expert)[: loop.max_turn_tokens]
            if eos is not None and len(target) < loop.max_turn_tokens:
                target = target + [eos]
            if target:
                contexts.append(stream[: offset + turn.start])
                targets.append(target)
    if not targets:
        return None
    n = len(targets)
    left = max(len(c) for c in contexts)
    prompt_ids = torch.full((n, left), pad, dtype=torch.long)
    prompt_mask = torch.zeros((n, left), dtype=torch.long)
    right = max(len(t) for t in targets)
    ids = torch.full((n, right), pad, dtype=torch.long)
    mask = torch.zeros((n, right), dtype=torch.long)
    for r, (c, t) in enumerate(zip(contexts, targets)):
        prompt_ids[r, left - len(c) :] = torch.tensor(c, dtype=torch.long)
        prompt_mask[r, left - len(c) :] = 1
        ids[r, : len(t)] = torch.tensor(t, dtype=torch.long)
        mask[r, : len(t)] = 1
    return Batch(prompt_ids, prompt_mask, ids, mask)


def clone_backward(loop: Any, episodes: list[Any], coef: float, micro_batch_size: int) -> dict[str, float]:
    """Backpropagate ``coef * NLL`` of the episodes' expert turns (gradients accumulate onto the
    RL loss's); the metrics ``thought_cloning/loss`` (the NLL) and ``thought_cloning/turns``."""
    batch = expert_batch(loop, episodes)
    if batch is None:
        return {"thought_cloning/turns": 0.0}
    n = batch.completion_mask.sum().clamp(min=1)
    nll = 0.0
    for lo in range(0, len(batch), micro_batch_size):
        mb = batch.rows(slice(lo, lo + micro_batch_size))
        lp = loop.policy.logprobs(mb, 1.0)
        m = mb.completion_mask[:, : lp.shape[1]]
        # this micro-batch's share of the whole batch's mean, scaled by coef
        term = coef * masked_nll(lp, m, n)
        term.backward()
        nll += float(term.detach()) / coef
    return {"thought_cloning/loss": nll, "thought_cloning/turns": float(len(batch))}


__all__ = ["clone_backward", "expert_batch", "thought_cloning_loss"]
