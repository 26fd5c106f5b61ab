"""``ordered_plan_match``: REVER's ordered bipartite-matching overlap of a skill sequence.

REVER / RoboFarseer (seeds_table row 25): "verifiable reward = ordered bipartite-matching overlap
between the generated and the ground-truth skill sequence". Neither code nor the exact
normalisation is public (marked U), so this is the documented proposal from the seeds table:
the maximum order-preserving one-to-one matching of steps (a longest common subsequence under
step equality, :func:`~rewardlab.rewards.matching.lcs_alignment`), scored as F1 over matched
pairs, 2 |M| / (|pred| + |ref|), in [0, 1]. An identical plan scores 1, swapping two steps
lowers it, a disjoint plan scores 0.

Steps are equal when their normalised text is equal (case, spacing, trailing punctuation), after
mapping through ``aliases`` (e.g. ``{"grab": "pick"}``: a cheap stand-in for semantic matching);
with ``similarity="rouge_l"`` two steps match when their ROUGE-L F1 is at least ``threshold``.

A plan is the ``<answer>`` content (else the completion): a JSON / Python list of steps (strings,
or objects whose ``"skill"``, ``"action"``, ``"step"`` or ``"name"`` is used), else one step per
non-empty line with list numbering ("1.", "Step 2:", "-") removed. The reference uses the same
forms. An empty predicted plan is malformed (0).
"""

from __future__ import annotations

import json
import re
from typing import Any

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Malformed, Reward, Sample, reference_of
from rewardlab.rewards.matching import lcs_alignment, rouge_l
from rewardlab.rewards.parsing import answer_text, parse_structured

_NUMBERING = re.compile(r"^\s*(?:(?:step\s*)?\d+\s*[.):]|[-*•])\s*", re.IGNORECASE)
STEP_KEYS = ("skill", "action", "step", "name")


def _step_text(step: Any) -> str:
    if isinstance(step, dict):
        for k in STEP_KEYS:
            if k in step:
                return str(step[k])
        return json.dumps(step, sort_keys=True)
    return str(step)


def parse_steps(text_or_list: Any, tag: str | None = "answer") -> list[str]:
    """Steps of a plan given as a list or as text (see the module docstring)."""
    if isinstance(text_or_list, list | tuple):
        return [_step_text(s) for s in text_or_list]
    text = answer_text(str(text_or_list), tag)
    try:
        obj = parse_structured(text)
        if isinstance(obj, list | tuple):
            return [_step_text(s) for s in obj]
    except Malformed:
        pass
    steps = [_NUMBERING.sub("", line).strip() for line in text.splitlines()]
    return [s for s in steps if s]


class OrderedPlanMatch(Reward):
    name = "ordered_plan_match"
    description = "REVER plan reward: F1 of the order-preserving matching of predicted and reference steps"

    def __init__(
        self,
        *,
        answer_tag: str | None = "answer",
        similarity: str = "exact",
        threshold: float = 0.5,
        aliases: dict[str, str] | None = None,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        if similarity not in ("exact", "rouge_l"):
            raise ConfigError(f"{self.name}: similarity must be 'exact' or 'rouge_l', got {similarity!r}")
        self.answer_tag = answer_tag or None
        self.similarity = similarity
        self.threshold = float(threshold)
        self.aliases = {self._norm(k): self._norm(v) for k, v in (aliases or {}).items()}

    @staticmethod
    def _norm(step: str) -> str:
        return " ".join(step.casefold().split()).rstrip(".;,!")

    def canon(self, step: str) -> str:
        s = self._norm(step)
        return self.aliases.get(s, s)

    def equal(self, a: str, b: str) -> bool:
        if self.similarity == "exact":
            return a == b
        return rouge_l(a, b) >= self.threshold

    def compute(self, sample: Sample) -> float:
        ref = [self.canon(s) for s in parse_steps(reference_of(sample), self.answer_tag)]
        pred = [self.canon(s) for s in parse_steps(sample.completion, self.answer_tag)]
        if not pred:
            raise Malformed("empty plan")
        if not ref:
            raise ValueError("the reference plan has no steps")
        matched = len(lcs_alignment(pred, ref, self.equal))
        return 2.0 * matched / (len(pred) + len(ref))
