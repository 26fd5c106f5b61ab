"""``vla_r1``: VLA-R1's verifiable reward, 0.9 x task + 0.1 x format.

Ye et al., 2025, "VLA-R1: Enhancing Reasoning in Vision-Language-Action Models" (arXiv
2510.01623); code: GigaAI-research/VLA-R1 ``RFT_training/train_utils/robot_bbox_traj_norm.py``
(``compute_score``: ``final = 0.9 * task_score + 0.1 * format_score``), verified (seeds_table row
26).

* ``vla_r1_format``: 1 iff the completion has ``<think>...</think>`` and an ``<output>...</output>``
  whose content ``json.loads`` accepts (``_has_both_tags``).
* ``vla_r1_task``: the ``<output>`` JSON (required) scored against the reference, by the form of
  the reference: a box ``{"x", "y", "width", "height"}`` (normalised centre form; a 4-list is read
  as ``[x1, y1, x2, y2]``) scores ``box_giou`` = (GIoU + 1) / 2; a list of ``[x, y]`` points
  scores ``trajectory`` = 1 - min(1, OSDFD / normaliser). A prediction of the other form, or
  output that is missing or not JSON, scores 0. The reference may be given as the object itself
  or as text (wrapped in ``<output>`` or not).

So an identical box with correct format scores 1.0, a missing ``<think>`` caps the score at 0.9,
and a missing or invalid ``<output>`` scores 0.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rewardlab.rewards.base import Malformed, Reward, Sample, reference_of
from rewardlab.rewards.boxes import giou
from rewardlab.rewards.combinators import WeightedSum
from rewardlab.rewards.parsing import as_box, as_points, parse_structured, tag_content
from rewardlab.rewards.trajectory import _clip_points, trajectory_score

_THINK = re.compile(r"<think>\s*.*?\s*</think>", re.DOTALL | re.IGNORECASE)
_OUTPUT = re.compile(r"<output>\s*(.*?)\s*</output>", re.DOTALL | re.IGNORECASE)


def output_json(text: str) -> Any:
    """VLA-R1 ``_extract_output``: ``json.loads`` of the first ``<output>`` content."""
    m = _OUTPUT.search(text)
    if not m:
        raise Malformed("no <output>...</output>")
    try:
        return json.loads(m.group(1).strip())
    except (ValueError, RecursionError):
        raise Malformed("<output> content is not JSON") from None


def _kind(obj: Any) -> str:
    if isinstance(obj, dict) and all(k in obj for k in ("x", "y", "width", "height")):
        return "bbox"
    if isinstance(obj, list | tuple) and len(obj) == 4 and all(isinstance(v, int | float) for v in obj):
        return "bbox"
    if isinstance(obj, list | tuple) and obj and all(isinstance(p, list | tuple) and len(p) == 2 for p in obj):
        return "traj"
    return "none"


class VLAR1Format(Reward):
    name = "vla_r1_format"
    description = "VLA-R1 format: 1 iff <think>...</think> and JSON-parsable <output>...</output>"

    def compute(self, sample: Sample) -> float:
        if not _THINK.search(sample.completion):
            return 0.0
        try:
            sample.cached("vla_r1:output", output_json)
        except Malformed:
            return 0.0
        return 1.0


class VLAR1Task(Reward):
    name = "vla_r1_task"
    description = "VLA-R1 task score: (GIoU + 1) / 2 for boxes, OSDFD score for trajectories"

    def __init__(
        self, *, lambda_theta: float = 0.25, lambda_r: float = 0.10, name: str | None = None, on_error: str = "raise"
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        self.lambda_theta, self.lambda_r = float(lambda_theta), float(lambda_r)

    def compute(self, sample: Sample) -> float:
        ref = reference_of(sample)
        if isinstance(ref, str):
            inner = tag_content(ref, "output")
            try:
                ref = parse_structured(inner if inner is not None else ref)
            except Malformed as e:
                raise ValueError(f"reference is not a box or trajectory: {e}") from None
        kind = _kind(ref)
        if kind == "none":
            raise ValueError(f"reference {ref!r} is neither a box nor a trajectory"[:120])
        pred = sample.cached("vla_r1:output", output_json)
        if _kind(pred) != kind:
            raise Malformed(f"output is not a {'box' if kind == 'bbox' else 'trajectory'}")
        if kind == "bbox":
            return (giou(as_box(pred), as_box(ref)) + 1.0) / 2.0
        return trajectory_score(
            _clip_points(as_points(pred)), _clip_points(as_points(ref)), self.lambda_theta, self.lambda_r
        )


def vla_r1(
    *,
    task_weight: float = 0.9,
    format_weight: float = 0.1,
    lambda_theta: float = 0.25,
    lambda_r: float = 0.10,
    name: str = "vla_r1",
    on_error: str = "raise",
) -> WeightedSum:
    """VLA-R1's reward: ``task_weight * vla_r1_task + format_weight * vla_r1_format``."""
    task = VLAR1Task(lambda_theta=lambda_theta, lambda_r=lambda_r, on_error=on_error)
    return WeightedSum([task, VLAR1Format(on_error=on_error)], [task_weight, format_weight], name=name)
