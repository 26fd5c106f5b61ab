"""``protocol_components``: Thoth's SCORE (Structured COmponent-based REward) for protocols.

Sun et al., 2025, "Unleashing Scientific Reasoning for Bio-experimental Protocol Generation via
Structured Component-based Reward Mechanism" (Thoth / SciRecipe, arXiv 2510.15600); spec:
manglu097/Thoth ``README.md`` ("SCORE Mechanism") and ``run.sh`` (GRPO_ORDER_MODE,
GRPO_COMBINE_MODE, GRPO_CONTENT_DENOM, GRPO_FINAL_COMBINE). The reward file
``verl/verl/utils/reward_score/SCORE.py`` is not public (seeds_table row 33, marked P), so the
formulas below are the documented proposal built from that spec:

* **format gate**: ``<think>``, ``<key>``, ``<orc>`` and ``<note>`` blocks are present and every
  ``<key>`` step parses as ``{"action": verb, "objects": [...], "parameters": [...]}`` (one per
  line, ``Step n:`` prefixes allowed, or one JSON list). Failing it scores 0.
* **consistency gate** (``check_consistency``): ``<orc>`` has as many steps as ``<key>`` and the
  i-th ``<orc>`` line contains the i-th key action verb. Failing it scores 0.
* ``step_scale`` = cos(pi d / 2M), d = |#pred - #ref| steps, M = ``max_diff`` or max(#pred, #ref):
  penalises both under- and over-generation.
* ``order`` over the action verbs: ``order_mode="lcs"``: |LCS| / #ref; ``"strict_subseq"`` (the
  run.sh default): 1 if the reference actions appear in order in the prediction, else 0.
* ``content``: for the steps aligned by the action LCS, object F1 and parameter F1 combined by
  ``combine_mode`` (``"sum"``: their mean; ``"product"``), averaged over the matched pairs
  (``content_denom="matched"``) or divided by max(#pred, #ref) (``"max_len"``).
* semantics = order x content; total = step_scale x semantics (``final_combine="product"``) or
  their mean (``"sum"``). Range [0, 1]; the reference protocol scores 1.

The reference is the list of key steps, or text holding them (in ``<key>`` or not).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Malformed, Reward, Sample, Scored, reference_of
from rewardlab.rewards.matching import is_subsequence, lcs_alignment, set_f1
from rewardlab.rewards.parsing import parse_structured, tag_content

TAGS = ("think", "key", "orc", "note")
_STEP_PREFIX = re.compile(r"^\s*(?:step\s*\d+\s*[:.)]|\d+\s*[.):])\s*", re.IGNORECASE)
MODES = {
    "order_mode": ("strict_subseq", "lcs"),
    "combine_mode": ("sum", "product"),
    "content_denom": ("matched", "max_len"),
    "final_combine": ("product", "sum"),
}


def _as_step(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict) or not isinstance(obj.get("action"), str):
        raise Malformed("a key step needs a string 'action'")
    objects, params = obj.get("objects", []), obj.get("parameters", [])
    if not isinstance(objects, list) or not isinstance(params, list):
        raise Malformed("'objects' and 'parameters' must be lists")
    return {"action": " ".join(obj["action"].casefold().split()), "objects": objects, "parameters": params}


def parse_key_steps(text_or_list: Any) -> list[dict[str, Any]]:
    """Key steps from a list of dicts, a JSON list, or one ``Step n: {...}`` line per step."""
    if isinstance(text_or_list, list | tuple):
        return [_as_step(s) for s in text_or_list]
    text = str(text_or_list)
    inner = tag_content(text, "key")
    text = inner if inner is not None else text.strip()
    try:
        obj = parse_structured(text)
        if isinstance(obj, list):
            return [_as_step(s) for s in obj]
    except Malformed:
        pass
    steps = []
    for line in text.splitlines():
        line = _STEP_PREFIX.sub("", line).strip()
        if not line or line == "...":
            continue
        try:
            steps.append(_as_step(json.loads(line)))
        except ValueError:
            raise Malformed(f"key step is not JSON: {line[:50]!r}") from None
    if not steps:
        raise Malformed("no key steps")
    return steps


def orc_steps(text: str) -> list[str]:
    lines = (_STEP_PREFIX.sub("", line).strip() for line in text.splitlines())
    return [line for line in lines if line and line != "..."]


class ProtocolComponents(Reward):
    name = "protocol_components"
    description = "Thoth SCORE: format/consistency gates x step-scale x (order x object/parameter fidelity)"

    def __init__(
        self,
        *,
        order_mode: str = "strict_subseq",
        combine_mode: str = "sum",
        content_denom: str = "matched",
        final_combine: str = "product",
        check_consistency: bool = True,
        max_diff: int | None = None,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        chosen = dict(order_mode=order_mode, combine_mode=combine_mode, content_denom=content_denom, final_combine=final_combine)
        for key, value in chosen.items():
            if value not in MODES[key]:
                raise ConfigError(f"{self.name}: {key} must be one of {', '.join(MODES[key])}, got {value!r}")
        self.order_mode, self.combine_mode = order_mode, combine_mode
        self.content_denom, self.final_combine = content_denom, final_combine
        self.check_consistency = check_consistency
        self.max_diff = max_diff

    def part_bounds(self) -> dict[str, tuple[float, float]]:
        return {p: (0.0, 1.0) for p in ("format", "consistency", "step_scale", "order", "content")}

    def compute(self, sample: Sample) -> Scored:
        try:
            ref = parse_key_steps(reference_of(sample))
        except Malformed as e:
            raise ValueError(f"reference is not a list of key steps: {e}") from None
        text = sample.completion
        parts = dict.fromkeys(self.part_bounds(), 0.0)
        missing = [t for t in TAGS if tag_content(text, t) is None]
        if missing:
            raise Malformed(f"format gate: missing <{missing[0]}>")
        pred = parse_key_steps(tag_content(text, "key"))  # Malformed -> format gate fails
        parts["format"] = 1.0
        if self.check_consistency:
            orc = orc_steps(tag_content(text, "orc"))
            consistent = len(orc) == len(pred) and all(s["action"] in o.casefold() for s, o in zip(pred, orc))
            if not consistent:
                return Scored(0.0, parts, note="consistency gate: <orc> does not follow <key> step by step", malformed=True)
        parts["consistency"] = 1.0
        return self.score_steps(pred, ref, parts)

    def score_steps(self, pred: list[dict[str, Any]], ref: list[dict[str, Any]], parts: dict[str, float]) -> Scored:
        n_p, n_r = len(pred), len(ref)
        m = self.max_diff or max(n_p, n_r)
        d = min(abs(n_p - n_r), m)
        parts["step_scale"] = math.cos(math.pi * d / (2 * m))
        pa, ra = [s["action"] for s in pred], [s["action"] for s in ref]
        pairs = lcs_alignment(pa, ra)
        if self.order_mode == "lcs":
            parts["order"] = len(pairs) / n_r
        else:
            parts["order"] = 1.0 if is_subsequence(ra, pa) else 0.0
        scores = []
        for i, j in pairs:
            o = set_f1(pred[i]["objects"], ref[j]["objects"])
            p = set_f1(pred[i]["parameters"], ref[j]["parameters"])
            scores.append((o + p) / 2 if self.combine_mode == "sum" else o * p)
        denom = len(pairs) if self.content_denom == "matched" else max(n_p, n_r)
        parts["content"] = sum(scores) / denom if denom else 0.0
        semantics = parts["order"] * parts["content"]
        if self.final_combine == "product":
            total = parts["step_scale"] * semantics
        else:
            total = (parts["step_scale"] + semantics) / 2
        return Scored(total, parts)
