"""Key/value-cache reuse across the turns of append-context episodes.

Without it, every turn after the first re-encodes the whole conversation (prompt, earlier turns,
observations) before sampling. With it, the cache that sampling turn t left behind is kept, and
turn t+1 only pre-fills the stream tokens the cache has not seen: the last sampled token of turn
t (sampling never feeds its last token), the template boundary and the observation. The stream is
the episode's own token ids, so the cache always holds exactly a prefix of what a full
re-encoding would read.

Batching: one cache row per episode. Rows of episodes that ended are dropped
(``batch_select_indices``). Episodes' deltas differ in length; a shorter delta is left-padded
with attention mask 0 so every row's last position is its real next-token position, and pads fed
after a row's EOS while others were still sampling are masked out (0) before the cache is reused.
Position ids count only real tokens, as :func:`~rewardlab.llm.sampling.position_ids_from_mask`
does for a fresh left-padded batch, so a row sees the same positions either way; masked keys get
weight exactly 0 in the softmax. What differs from re-encoding is the float summation order of
differently shaped matrix products (log-probs agree to ~1e-6; the test checks samples and
log-probs on the tiny Llama).
"""

from __future__ import annotations

from typing import Any

import torch

from rewardlab.errors import RewardlabError
from rewardlab.llm.policy import Batch
from rewardlab.llm.sampling import decode_with_cache, sample_completions


class TurnCache:
    """The cache of one batch of episodes, carried from turn to turn (see the module docstring)."""

    def __init__(self, policy: Any, *, temperature: float, top_p: float, greedy: bool) -> None:
        self.policy = policy
        self.sampling = {
            "eos_token_id": policy.eos_token_id,
            "pad_token_id": policy.pad_token_id,
            "temperature": temperature,
            "top_p": top_p,
            "greedy": greedy,
            "return_logprobs": True,
            "return_cache": True,
        }
        self.cache: Any = None
        self.mask: torch.Tensor | None = None  # attention mask over the cache, 1 = a real stream token
        self.rows: list[int] = []  # the episode each cache row belongs to
        self.fed: list[int] = []  # stream tokens (prompt + trajectory) each row's cache holds

    def _eval(self):
        model = self.policy.model
        was_training = model.training
        model.eval()
        return model, was_training

    def first_turn(
        self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, num_generations: int, max_new_tokens: int
    ) -> Batch:
        """Turn 0 of every episode (``num_generations`` per prompt, in episode order)."""
        model, was_training = self._eval()
        try:
            ids, mask, logprobs, (cache, attn) = sample_completions(
                model,
                prompt_ids,
                prompt_mask,
                num_generations=num_generations,
                max_new_tokens=max_new_tokens,
                **self.sampling,
            )
        finally:
            model.train(was_training)
        prompt_len = prompt_mask.sum(1).repeat_interleave(num_generations).tolist()
        self._keep(cache, attn, ids, mask, list(range(len(ids))), prompt_len)
        return Batch(
            prompt_ids.repeat_interleave(num_generations, dim=0),
            prompt_mask.repeat_interleave(num_generations, dim=0),
            ids,
            mask,
            logprobs=logprobs,
        )

    def next_turn(self, active: list[int], streams: list[list[int]], max_new_tokens: int) -> Batch:
        """The next turn of episodes ``active`` (a subset of the cached ones, in order), whose full
        token streams are ``streams``: pre-fill each stream's unseen tail, then sample."""
        where = {e: r for r, e in enumerate(self.rows)}
        missing = [e for e in active if e not in where]
        if missing:
            raise RewardlabError(f"kv cache: episodes {missing} have no cached turn to continue from")
        keep = torch.tensor([where[e] for e in active], dtype=torch.long)
        if len(active) != len(self.rows):
            self.cache.batch_select_indices(keep)
        mask = self.mask[keep]
        fed = [self.fed[where[e]] for e in active]
        deltas = [s[f:] for s, f in zip(streams, fed)]
        if any(not d for d in deltas):
            raise RewardlabError("kv cache: a continuing episode has no new tokens after its last turn")
        width = max(len(d) for d in deltas)
        n = len(active)
        new_ids = torch.full((n, width), self.policy.pad_token_id, dtype=torch.long)
        new_mask = torch.zeros((n, width), dtype=mask.dtype)
        position = torch.zeros((n, width), dtype=torch.long)
        real = mask.sum(1).tolist()
        for r, d in enumerate(deltas):
            if real[r] != fed[r]:  # the bookkeeping invariant: mask-1 cache slots == stream tokens fed
                raise RewardlabError(f"kv cache: row {r} masks {real[r]} tokens but holds {fed[r]}")
            new_ids[r, width - len(d) :] = torch.tensor(d, dtype=torch.long)
            new_mask[r, width - len(d) :] = 1
            position[r, width - len(d) :] = torch.arange(fed[r], fed[r] + len(d))
        attn = torch.cat([mask, new_mask], dim=1)
        model, was_training = self._eval()
        try:
            with torch.no_grad():
                out = model(
                    input_ids=new_ids,
                    attention_mask=attn,
                    position_ids=position,
                    past_key_values=self.cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
            ids, cmask, logprobs, (cache, attn) = decode_with_cache(
                model,
                out.logits[:, -1, :].float(),
                out.past_key_values,
                attn,
                position[:, -1:] + 1,
                max_new_tokens=max_new_tokens,
                **self.sampling,
            )
        finally:
            model.train(was_training)
        self._keep(cache, attn, ids, cmask, active, [f + len(d) for f, d in zip(fed, deltas)])
        prompts = torch.zeros((n, 1), dtype=torch.long)
        return Batch(prompts, prompts, ids, cmask, logprobs=logprobs)

    def _keep(self, cache, attn, ids, cmask, rows: list[int], fed_before: list[int]) -> None:
        """Store the cache after a turn: mask the pads fed after each row's EOS, count the fed tokens."""
        steps = ids.shape[1]
        fed_sampled = cmask.sum(1).clamp(max=steps - 1)  # the last sampled token is never fed
        attn = attn.clone()
        tail = attn.shape[1] - (steps - 1)  # where this turn's fed tokens start
        for r in range(len(rows)):
            attn[r, tail + int(fed_sampled[r]) :] = 0
        self.cache, self.mask, self.rows = cache, attn, list(rows)
        self.fed = [f + int(k) for f, k in zip(fed_before, fed_sampled)]


__all__ = ["TurnCache"]
