"""Preference pairs from JSONL: ``{"prompt"?: str, "chosen": str, "rejected": str, "margin"?: float}``
per line (TRL's standard preference format; the prompt is prepended to both completions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rewardlab.core.io import read_jsonl
from rewardlab.errors import RewardlabError
from rewardlab.rewards.learned.bradley_terry import Pairs


def read_preference_pairs(path: str | Path) -> Pairs:
    """Texts ``prompt + chosen`` and ``prompt + rejected``; a bad line is an error naming it."""
    chosen, rejected, margins = [], [], []
    seen: dict[tuple[str, str, str], int] = {}
    for line, row in read_jsonl(path, what="preference file"):
        where = f"{path}:{line}"
        for key in ("chosen", "rejected"):
            if key not in row:
                raise RewardlabError(
                    f"{where}: no {key!r} field; each line needs 'chosen' and 'rejected' texts "
                    f"(and optionally 'prompt', 'margin'), got keys {sorted(row)}"
                )
            if not isinstance(row[key], str) or not row[key].strip():
                raise RewardlabError(f"{where}: {key!r} is empty or not a string ({row[key]!r})")
        prompt = row.get("prompt", "")
        if not isinstance(prompt, str):
            raise RewardlabError(f"{where}: 'prompt' must be a string, got {type(prompt).__name__}")
        if row["chosen"] == row["rejected"]:
            raise RewardlabError(f"{where}: 'chosen' and 'rejected' are the same text; the pair says nothing")
        key3 = (prompt, row["chosen"], row["rejected"])
        if key3 in seen:
            raise RewardlabError(f"{where}: duplicate of the pair on line {seen[key3]}")
        seen[key3] = line
        chosen.append(prompt + row["chosen"])
        rejected.append(prompt + row["rejected"])
        margins.append(float(row.get("margin", 0.0)))
    if not chosen:
        raise RewardlabError(f"preference file {str(path)!r} holds no pairs")
    has_margin = any(m != 0.0 for m in margins)
    return Pairs(chosen, rejected, np.asarray(margins, dtype=np.float32) if has_margin else None)
