"""A rough estimate of an LM training config's peak memory, checked before anything runs."""

from __future__ import annotations

import os
from typing import Any

import torch

from rewardlab.errors import RewardlabError


def available_memory_bytes(device: str = "cpu") -> int:
    if device.startswith("cuda") and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def estimate_memory_bytes(
    model: Any,
    *,
    sequences_per_pass: int,
    sequence_length: int,
    completion_length: int,
    trainable_params: int,
    reference_copy: bool = False,
) -> dict[str, int]:
    """A rough upper estimate of peak memory for training ``model`` (bytes, by part).

    weights (+ a frozen reference copy), gradients and AdamW's two moments for the trainable
    parameters, activations kept for backward (per layer and token about 10 hidden + 4
    intermediate values, the usual transformer count without recomputation), and the completion
    logits (micro-batch x completion tokens x vocabulary, three copies: logits, log-softmax, grad).
    """
    cfg = model.config
    bytes_per = next(model.parameters()).element_size()
    n_params = sum(p.numel() for p in model.parameters())
    hidden = getattr(cfg, "hidden_size", 0) or 0
    inter = getattr(cfg, "intermediate_size", 4 * hidden) or 4 * hidden
    layers = getattr(cfg, "num_hidden_layers", 0) or 0
    vocab = getattr(cfg, "vocab_size", 0) or 0
    tokens = sequences_per_pass * sequence_length
    parts = {
        "weights": n_params * bytes_per * (2 if reference_copy else 1),
        "gradients_and_optimizer": trainable_params * 4 * 3,
        "activations": tokens * layers * (10 * hidden + 4 * inter) * bytes_per,
        "logits": sequences_per_pass * (completion_length + 1) * vocab * 4 * 3,
    }
    parts["total"] = sum(parts.values())
    return parts


def check_memory(parts: dict[str, int], available: int, knob: str) -> None:
    """Refuse a config whose estimated peak memory exceeds what is available, naming the knob."""
    if parts["total"] > available:
        gib = 1024**3
        detail = ", ".join(f"{k} {v / gib:.2f}" for k, v in parts.items() if k != "total")
        raise RewardlabError(
            f"this config needs about {parts['total'] / gib:.1f} GiB ({detail} GiB) but only "
            f"{available / gib:.1f} GiB is available. Lower {knob}, or set check_memory = false to try anyway."
        )
