"""A tiny random-initialised Llama with a character tokenizer, built in-process (no download).

For tests and smoke runs: ``load_model("tiny-random-llama")`` returns one. Every character of
``chars`` is one token; ``<pad>``, ``<eos>`` and ``<bos>`` are ids 0, 1, 2.
"""

from __future__ import annotations

import string
from typing import Any

import torch

PRINTABLE = string.digits + string.ascii_letters + string.punctuation + " \n"
DIGITS = string.digits  # the vocabulary of the toy digit tasks (rewardlab.tasks.digits)


def char_tokenizer(chars: str = PRINTABLE) -> Any:
    """A ``PreTrainedTokenizerFast`` with one token per character (left padding)."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2}
    for c in dict.fromkeys(chars):
        vocab[c] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))  # no merges: characters
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", padding_side="left"
    )


def tiny_llama(
    chars: str = PRINTABLE,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    seed: int = 0,
) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a random Llama of ``num_layers`` layers over a character vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = char_tokenizer(chars)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=2048,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        tie_word_embeddings=False,
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(state)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 1
    return model, tokenizer


def tiny_policy(cfg: Any, chars: str = DIGITS + "=", seed: int = 0, **kwargs: Any) -> Any:
    """A :class:`~rewardlab.llm.policy.Policy` over :func:`tiny_llama` (``kwargs`` its sizes) with
    config ``cfg``; the default vocabulary is the digit tasks' (:mod:`rewardlab.tasks.digits`)."""
    from rewardlab.llm.policy import Policy

    model, tok = tiny_llama(chars, seed=seed, **kwargs)
    return Policy(model, tok, cfg)
