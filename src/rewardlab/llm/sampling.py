"""Batched sampling with a key/value cache and per-token log-probabilities of completions.

Pure functions of a model and token tensors: the Policy (rewardlab.llm.policy), the multi-turn
agent loop and the benchmarks call them; nothing here holds state.
"""

from __future__ import annotations

from typing import Any

import torch


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding, as ``generate`` computes them, so a padded row gets the
    same logits as the unpadded sequence."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def prompt_pass(
    model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, return_hidden: bool = False
) -> Any:
    """One forward pass over left-padded prompts that keeps the key/value cache and only the last
    position's logits: the start of both cached generation and shared-prompt scoring."""
    return model(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=position_ids_from_mask(prompt_mask),
        use_cache=True,
        logits_to_keep=1,
        **({"output_hidden_states": True} if return_hidden else {}),
    )


def completion_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
    vocab_mean: bool = False,
    return_hidden: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities (batch, completion tokens) of ``completion_ids`` given the prompts.

    Prompts are left-padded (``prompt_mask`` 0 on padding), completions right-padded
    (``completion_mask`` 0 after the end; padded positions get a value that callers mask out).
    Logits are divided by the sampling ``temperature`` first, so the result is the log-prob under
    the distribution that was sampled (as TRL does). Only the completion positions go through the
    LM head (``logits_to_keep``). ``vocab_mean``: return (batch, tokens, 2), the second column the
    mean over the vocabulary of the log-probabilities at that position (ROVER's uniform-policy value).

    ``return_hidden`` also returns the last layer's hidden state at the same positions (batch,
    completion tokens, hidden): the state in which each completion token was chosen, what a
    value head reads (token-level PPO), from the same forward.
    """
    if completion_mask is None:
        completion_mask = torch.ones_like(completion_ids)
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
    n = completion_ids.shape[1]
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        logits_to_keep=n + 1,
        use_cache=False,
        **({"output_hidden_states": True} if return_hidden else {}),
    )
    logits = out.logits[:, :-1, :].float()  # position t predicts completion token t
    if temperature != 1.0:
        logits = logits / temperature
    logprobs = _token_logprobs(logits, completion_ids, vocab_mean)
    if return_hidden:
        return logprobs, out.hidden_states[-1][:, -(n + 1) : -1, :]
    return logprobs


def shared_prompt_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor | None = None,
    *,
    group_size: int,
    temperature: float = 1.0,
    vocab_mean: bool = False,
    return_hidden: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """:func:`completion_logprobs` for ``group_size`` completions of each prompt, running each prompt
    through the model once: its key/value cache is computed once per prompt (with gradients), then
    repeated for the completions of its group. Same values as the plain function up to float
    rounding, and a GRPO batch of G completions per prompt costs one prompt pass instead of G.

    ``prompt_ids`` / ``prompt_mask``: (prompts, P), left-padded; ``completion_ids``: (prompts *
    group_size, T), the completions of prompt ``i`` in rows ``i * group_size ... (i + 1) * group_size - 1``.
    ``vocab_mean``, ``return_hidden``: as :func:`completion_logprobs`.
    """
    if completion_mask is None:
        completion_mask = torch.ones_like(completion_ids)
    P, T = prompt_ids.shape[1], completion_ids.shape[1]
    out = prompt_pass(model, prompt_ids, prompt_mask, return_hidden=return_hidden)
    first = out.logits[:, -1:, :].repeat_interleave(group_size, dim=0)  # predicts completion token 0
    hidden = out.hidden_states[-1][:, -1:, :].repeat_interleave(group_size, dim=0) if return_hidden else None
    if T > 1:
        cache = out.past_key_values
        cache.batch_repeat_interleave(group_size)
        full_mask = torch.cat([prompt_mask.repeat_interleave(group_size, dim=0), completion_mask], dim=1)
        positions = position_ids_from_mask(full_mask)[:, P : P + T - 1]
        rest_out = model(
            input_ids=completion_ids[:, :-1],
            attention_mask=full_mask[:, : P + T - 1],
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            **({"output_hidden_states": True} if return_hidden else {}),
        )
        logits = torch.cat([first, rest_out.logits], dim=1).float()
        if return_hidden:
            hidden = torch.cat([hidden, rest_out.hidden_states[-1]], dim=1)
    else:
        logits = first.float()
    if temperature != 1.0:
        logits = logits / temperature
    logprobs = _token_logprobs(logits, completion_ids, vocab_mean)
    return (logprobs, hidden) if return_hidden else logprobs


def _token_logprobs(logits: torch.Tensor, completion_ids: torch.Tensor, vocab_mean: bool) -> torch.Tensor:
    """log pi of the taken tokens, and with ``vocab_mean`` also mean_v log pi(v) stacked last."""
    normaliser = torch.logsumexp(logits, dim=-1)
    picked = torch.gather(logits, -1, completion_ids.unsqueeze(-1)).squeeze(-1) - normaliser
    if not vocab_mean:
        return picked
    return torch.stack([picked, logits.mean(-1) - normaliser], dim=-1)


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al. 2020): keep the most likely tokens whose probabilities sum
    to at least ``top_p`` (always the most likely one); the others get -inf."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # probability of the tokens ranked above
    drop_sorted = mass_before >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


@torch.no_grad()
def sample_completions(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    num_generations: int,
    max_new_tokens: int,
    eos_token_id: int | None,
    pad_token_id: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
    return_logprobs: bool = False,
    return_cache: bool = False,
) -> tuple[Any, ...]:
    """``num_generations`` completions of each (left-padded) prompt, with a key/value cache: each
    prompt is encoded once and its cache repeated for its completions. Stops a row at EOS (pad
    after it) and the batch when every row has stopped. Sampling uses the global torch RNG.

    Returns ``(completion_ids, completion_mask)`` of shape (prompts * num_generations, steps); the
    mask covers the tokens up to and including EOS. ``return_logprobs`` adds a third tensor: each
    sampled token's log-probability under the temperature-scaled distribution (before top-p), the
    quantity :func:`completion_logprobs` recomputes; it draws no random numbers. ``return_cache``
    adds the key/value cache and its mask (see :func:`decode_with_cache`).
    """
    out = prompt_pass(model, prompt_ids, prompt_mask)
    cache = out.past_key_values
    if num_generations > 1:
        cache.batch_repeat_interleave(num_generations)
    logits = out.logits[:, -1, :].float().repeat_interleave(num_generations, dim=0)
    mask = prompt_mask.repeat_interleave(num_generations, dim=0)
    position = position_ids_from_mask(mask)[:, -1:] + 1
    return decode_with_cache(
        model,
        logits,
        cache,
        mask,
        position,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        temperature=temperature,
        top_p=top_p,
        greedy=greedy,
        return_logprobs=return_logprobs,
        return_cache=return_cache,
    )


@torch.no_grad()
def decode_with_cache(
    model: Any,
    logits: torch.Tensor,
    cache: Any,
    mask: torch.Tensor,
    position: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int | None,
    pad_token_id: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
    return_logprobs: bool = False,
    return_cache: bool = False,
) -> tuple[Any, ...]:
    """The token-by-token part of :func:`sample_completions`, from the next-token ``logits`` (rows,
    vocab) of a filled key/value ``cache`` whose attention mask is ``mask`` and whose next position
    per row is ``position`` (rows, 1). The multi-turn agent loop calls it with a cache carried over
    from the previous turn (``rewardlab.agents.kv_cache``).

    ``return_cache`` appends ``(cache, mask)``: the cache after the last fed token (the last sampled
    token is never fed) and its attention mask, 1 also on the pads fed after a row's EOS."""
    rows = logits.shape[0]
    done = torch.zeros(rows, dtype=torch.bool, device=logits.device)
    tokens = []
    picked_logprobs = []
    for t in range(max_new_tokens):
        if greedy:
            token = logits.argmax(-1)
        else:
            probs = torch.softmax(top_p_filter(logits / temperature, top_p), dim=-1)
            token = torch.multinomial(probs, 1).squeeze(-1)
        token = torch.where(done, torch.full_like(token, pad_token_id), token)
        tokens.append(token)
        if return_logprobs:
            scaled = logits / temperature if temperature != 1.0 else logits
            picked_logprobs.append(torch.log_softmax(scaled, dim=-1).gather(-1, token[:, None]).squeeze(-1))
        if eos_token_id is not None:
            done = done | (token == eos_token_id)
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones(rows, 1, dtype=mask.dtype, device=mask.device)], dim=1)
        logits = (
            model(
                input_ids=token[:, None],
                attention_mask=mask,
                position_ids=position,
                past_key_values=cache,
                use_cache=True,
            )
            .logits[:, -1, :]
            .float()
        )
        position = position + 1
    completion_ids = torch.stack(tokens, dim=1)
    completion_mask = completion_mask_from_eos(completion_ids, eos_token_id)
    out: tuple[Any, ...] = (completion_ids, completion_mask)
    if return_logprobs:
        out += (torch.stack(picked_logprobs, dim=1) * completion_mask,)
    if return_cache:
        out += ((cache, mask),)
    return out


def completion_mask_from_eos(completion_ids: torch.Tensor, eos_token_id: int | None) -> torch.Tensor:
    """1 up to and including the first EOS of each row, 0 after it (all 1 when there is no EOS)."""
    if eos_token_id is None:
        return torch.ones_like(completion_ids)
    is_eos = completion_ids == eos_token_id
    # number of EOS strictly before each position: 0 means still inside the completion
    before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()
    return (before == 0).long()
