"""``box_iou`` and ``box_giou``: overlap of a predicted and a reference bounding box.

IoU is the plain intersection over union in [0, 1]. ``box_giou`` is VLA-R1's bbox reward
(Ye et al., 2025, "VLA-R1: Enhancing Reasoning in Vision-Language-Action Models", arXiv
2510.01623; code: GigaAI-research/VLA-R1 ``RFT_training/train_utils/robot_bbox_traj_norm.py``,
``_giou_xyxy`` and ``compute_score``; verified, seeds_table row 26): R = (GIoU + 1) / 2 in
[0, 1], with GIoU = IoU - (C - U) / C for the smallest enclosing box C and union U (Rezatofighi
et al., 2019), clamped to [-1, 1]. Degenerate cases follow that file exactly: areas are
``max(0, x2 - x1) * max(0, y2 - y1)`` (a box with x2 < x1 has zero area), IoU is 0 when the
union is 0, and C and U are floored at 1e-12 (two identical zero-area boxes: GIoU 0, R 0.5).

The answer is the ``<answer>`` content (else the whole completion) parsed as ``[x1, y1, x2,
y2]``, or VLA-R1's normalised centre form ``{"x", "y", "width", "height"}`` (clipped to [0, 1]);
``box_format="cxcywh"`` reads a 4-list as centre, width, height.
"""

from __future__ import annotations

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Malformed, Reward, Sample, reference_of
from rewardlab.rewards.parsing import as_box, structured_answer, structured_reference

Box = tuple[float, float, float, float]
_TINY = 1e-12


def area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def intersection(a: Box, b: Box) -> float:
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def iou(a: Box, b: Box) -> float:
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def giou(a: Box, b: Box) -> float:
    enclosing = area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))) or _TINY
    union = max(_TINY, area(a) + area(b) - intersection(a, b))
    return max(-1.0, min(1.0, iou(a, b) - (enclosing - union) / enclosing))


class _BoxReward(Reward):
    def __init__(
        self,
        *,
        answer_tag: str | None = "answer",
        box_format: str = "xyxy",
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        if box_format not in ("xyxy", "cxcywh"):
            raise ConfigError(f"{self.name}: box_format must be 'xyxy' or 'cxcywh', got {box_format!r}")
        self.answer_tag = answer_tag or None
        self.box_format = box_format

    def boxes(self, sample: Sample) -> tuple[Box, Box]:
        ref = reference_of(sample)
        try:
            ref_box = as_box(structured_reference(ref, self.answer_tag), self.box_format)
        except Malformed as e:
            raise ValueError(f"reference is not a box: {e}") from None
        key = f"{self.answer_tag}:structured"
        pred = sample.cached(key, lambda text: structured_answer(text, self.answer_tag))
        return as_box(pred, self.box_format), ref_box


class BoxIoU(_BoxReward):
    name = "box_iou"
    description = "intersection over union of the predicted and reference box, in [0, 1]"

    def compute(self, sample: Sample) -> float:
        return iou(*self.boxes(sample))


class BoxGIoU(_BoxReward):
    name = "box_giou"
    description = "VLA-R1 bbox reward (GIoU + 1) / 2, in [0, 1]"

    def compute(self, sample: Sample) -> float:
        return (giou(*self.boxes(sample)) + 1.0) / 2.0
