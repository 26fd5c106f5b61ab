"""``gui_action``: UI-R1's rule-based action reward, R = R_act + R_coord + R_fmt in [0, 3].

Lu et al., 2025, "UI-R1: Enhancing Action Prediction of GUI Agents by Reinforcement Learning"
(arXiv 2503.21620); code: lll6gg/UI-R1 ``src/ui_r1/src/open_r1/grpo_json_action_coord.py``
(``accuracy_reward_action``, ``accuracy_reward_coord``, ``format_reward``), verified (seeds_table
row 1):

* ``action`` (R_act): 1 when the predicted action type equals the reference type.
* ``coord`` (R_coord): 1 when the types match and (the type is not ``click``, or the click point,
  multiplied by the image ``scale`` and truncated to int as UI-R1 does, lies inside the
  reference bbox ``[x1, y1, x2, y2]``, edges included).
* ``format`` (R_fmt): 1 when the whole completion matches
  ``<think>.*?</think>\\s*<answer>.*?</answer>`` (DOTALL).

So with good format: click inside 3, click outside 2, wrong type 1; a correct click with bad
format 2. As in UI-R1, the action is read from the ``<answer>`` tag only (without it, action and
coord are 0 and the sample is counted as malformed; ``answer_tag_required=False`` falls back to
the whole completion). The answer is ``{"action": "click", "coordinate": [x, y]}``, a one-element
list of it, or its Python-literal spelling ``[{'action': 'click', 'coordinate': [x, y]}]``. The
reference is the same object with the target element's ``"bbox"`` (a dict, or such text).
``sample.info["scale"] = [sx, sy]`` is UI-R1's per-image resize factor (default 1, 1).

Options beyond the paper (off by default): ``check_args`` makes ``coord`` for ``input_text``,
``scroll`` and ``open_app`` require the text / direction / app argument to match (case- and
space-insensitive); the three weights are configurable.
"""

from __future__ import annotations

from typing import Any

from rewardlab.rewards.base import Malformed, Reward, Sample, Scored, reference_of
from rewardlab.rewards.parsing import (
    as_action,
    as_box,
    as_point,
    parse_structured,
    structured_answer,
    tag_content,
    tags_pattern,
)

#: action type -> argument keys compared when check_args is on (first key present is used)
ARG_KEYS = {
    "input_text": ("text", "input_text", "content"),
    "type": ("text", "content"),
    "scroll": ("direction",),
    "open_app": ("app", "app_name", "name"),
}
POINT_KEYS = ("coordinate", "point", "coord", "position")


def _norm(v: Any) -> str:
    return " ".join(str(v).casefold().split())


class GuiAction(Reward):
    name = "gui_action"
    description = "UI-R1 GUI action reward: action type + click-in-bbox + think/answer format, in [0, 3]"

    def __init__(
        self,
        *,
        action_weight: float = 1.0,
        coord_weight: float = 1.0,
        format_weight: float = 1.0,
        answer_tag_required: bool = True,
        truncate: bool = True,
        check_args: bool = False,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        self.weights = {"action": float(action_weight), "coord": float(coord_weight), "format": float(format_weight)}
        self.answer_tag_required = answer_tag_required
        self.truncate = truncate
        self.check_args = check_args
        self.format_pattern = tags_pattern(("think", "answer"))
        self.minimum = sum(min(0.0, w) for w in self.weights.values())
        self.maximum = sum(max(0.0, w) for w in self.weights.values())

    def part_bounds(self) -> dict[str, tuple[float, float]]:
        return {p: (0.0, 1.0) for p in ("action", "coord", "format")}

    def _total(self, parts: dict[str, float]) -> float:
        return sum(self.weights[p] * v for p, v in parts.items())

    def _reference(self, sample: Sample) -> tuple[dict[str, Any], tuple[float, float, float, float] | None]:
        ref = reference_of(sample)
        try:
            action = as_action(structured_answer(ref) if isinstance(ref, str) else ref)
            bbox = None
            if action["action"] == "click":
                raw = action.get("bbox", action.get("coordinate"))
                bbox = as_box(raw)
        except Malformed as e:
            raise ValueError(f"reference is not a GUI action with a bbox: {e}") from None
        return action, bbox

    def _answer(self, text: str) -> dict[str, Any]:
        inner = tag_content(text, "answer")
        if inner is None:
            if self.answer_tag_required:
                raise Malformed("no <answer>...</answer>")
            inner = text
        return as_action(parse_structured(inner))

    def compute(self, sample: Sample) -> Scored:
        ref, bbox = self._reference(sample)
        parts = {"action": 0.0, "coord": 0.0, "format": 0.0}
        parts["format"] = 1.0 if self.format_pattern.fullmatch(sample.completion) else 0.0
        try:
            pred = sample.cached("gui_action:answer" if self.answer_tag_required else "gui_action:any", self._answer)
        except Malformed as e:
            return Scored(self._total(parts), parts, note=str(e), malformed=True)
        if pred["action"] != ref["action"]:
            return Scored(self._total(parts), parts)
        parts["action"] = 1.0
        note = ""
        if ref["action"] == "click":
            try:
                x, y = as_point(next((pred[k] for k in POINT_KEYS if k in pred), None))
                sx, sy = sample.info.get("scale", (1.0, 1.0))
                x, y = x * float(sx), y * float(sy)
                if self.truncate:
                    x, y = int(x), int(y)
                x1, y1, x2, y2 = bbox
                parts["coord"] = 1.0 if x1 <= x <= x2 and y1 <= y <= y2 else 0.0
            except Malformed as e:
                note = f"click without a valid point: {e}"
        elif self.check_args and ref["action"] in ARG_KEYS:
            keys = ARG_KEYS[ref["action"]]
            want = next((ref[k] for k in keys if k in ref), None)
            got = next((pred[k] for k in keys if k in pred), None)
            parts["coord"] = 1.0 if want is not None and got is not None and _norm(want) == _norm(got) else 0.0
        else:
            parts["coord"] = 1.0
        return Scored(self._total(parts), parts, note=note, malformed=bool(note))
