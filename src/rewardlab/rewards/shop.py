"""``hierarchical_action``: Shop-R1's hierarchical reward for a JSON web-shopping action.

Zhang et al., 2025, "Shop-R1: Rewarding LLMs to Simulate Human Behavior in Online Shopping via
Reinforcement Learning" (arXiv 2507.17842). The official code is not public (seeds_table row 14,
marked P); the numbers follow the third-party reimplementation christianchartier/shop-r1
``environments/shop_r1/shop_r1.py`` ("approximating the reward design"), so this is the
documented proposal:

* ``format`` (weight 0.5): the completion holds a JSON object ``{"rationale": str, "action":
  {"type": str, "name": str, "text": str}}`` (name / text optional, strings when present;
  ``"value"`` is accepted for ``"text"``).
* ``type`` (weight 0.3): the action type equals the reference type (click, type_and_submit,
  terminate).
* Only when the type is right (:class:`~rewardlab.rewards.combinators.Hierarchical`):
  ``attribute``: click +0.2 when a name is given; type_and_submit +0.1 name, +0.1 text;
  terminate 0. ``value``: similarity = ROUGE-L F1, set to 0 below ``sim_threshold`` (0.75);
  click: DARS x sim(name); type_and_submit: 0.1 x sim(name) + DARS x sim(text); terminate 0.
* DARS (difficulty-aware reward scaling) = ``dars_factor`` x ``sample.info["difficulty"]``
  (default 1). The reimplementation uses a factor of 1000, which makes the value term dominate
  everything else; the default here is 1.0. With ``difficulty`` in [0, 1] the total lies in
  [0, 1.1 + dars_factor] (0.5 format + 0.3 type + 0.2 attribute + 0.1 name + DARS x text).

Because attribute and value rewards are gated on the type and are 0 for terminate, padding a
terminate action with extra text gains nothing (the paper's anti-hacking property). The
rationale's self-certainty term (weight 0.13) needs the policy's token distributions and lives
with the LLM trainer; add it with a WeightedSum.
"""

from __future__ import annotations

import math
from typing import Any

from rewardlab.rewards.base import Malformed, Reward, Sample, reference_of
from rewardlab.rewards.combinators import Hierarchical, WeightedSum
from rewardlab.rewards.matching import rouge_l
from rewardlab.rewards.parsing import parse_structured


def _action_of(obj: Any) -> dict[str, str]:
    """Canonical {"type", "name", "text"} of an action dict (strings; missing -> "")."""
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise Malformed("action needs a string 'type'")
    out = {"type": obj["type"].strip()}
    for key, alias in (("name", "name"), ("text", "value")):
        v = obj.get(key, obj.get(alias, ""))
        if v is None:
            v = ""
        if not isinstance(v, str):
            raise Malformed(f"action {key!r} must be a string")
        out[key] = v.strip()
    return out


def shop_output(text: str) -> dict[str, Any]:
    obj = parse_structured(text)
    if not isinstance(obj, dict):
        raise Malformed("output is not a JSON object")
    if not isinstance(obj.get("rationale"), str):
        raise Malformed("missing string 'rationale'")
    return {"rationale": obj["rationale"], "action": _action_of(obj.get("action"))}


def _reference_action(sample: Sample) -> dict[str, str]:
    ref = reference_of(sample)
    try:
        if isinstance(ref, str):
            ref = parse_structured(ref)
        if isinstance(ref, dict) and isinstance(ref.get("action"), dict):
            ref = ref["action"]
        return _action_of(ref)
    except Malformed as e:
        raise ValueError(f"reference is not a shopping action: {e}") from None


def _predicted(sample: Sample) -> dict[str, str]:
    return sample.cached("shop_r1:output", shop_output)["action"]


class ShopFormat(Reward):
    name = "shop_format"
    description = "Shop-R1 format: 1 if the completion is a JSON {rationale, action{type,name,text}}"

    def compute(self, sample: Sample) -> float:
        try:
            _predicted(sample)
        except Malformed:
            return 0.0
        return 1.0


class ShopActionType(Reward):
    name = "shop_type"
    description = "Shop-R1 action type: 1 if the action type equals the reference type"

    def compute(self, sample: Sample) -> float:
        return 1.0 if _predicted(sample)["type"] == _reference_action(sample)["type"] else 0.0


class ShopAttribute(Reward):
    name = "shop_attribute"
    description = "Shop-R1 attribute presence: click +0.2 name; type_and_submit +0.1 name +0.1 text"
    maximum = 0.2

    def compute(self, sample: Sample) -> float:
        pred, ref = _predicted(sample), _reference_action(sample)
        if ref["type"] == "click":
            return 0.2 if pred["name"] else 0.0
        if ref["type"] == "type_and_submit":
            return 0.1 * bool(pred["name"]) + 0.1 * bool(pred["text"])
        return 0.0


class ShopValue(Reward):
    name = "shop_value"
    description = "Shop-R1 value similarity: thresholded ROUGE-L of name / text, text scaled by DARS"

    def __init__(
        self, *, sim_threshold: float = 0.75, dars_factor: float = 1.0, name: str | None = None, on_error: str = "raise"
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        self.sim_threshold = float(sim_threshold)
        self.dars_factor = float(dars_factor)
        self.maximum = 0.1 + max(0.0, self.dars_factor)

    def sim(self, a: str, b: str) -> float:
        s = rouge_l(a, b)
        return s if s >= self.sim_threshold else 0.0

    def compute(self, sample: Sample) -> float:
        pred, ref = _predicted(sample), _reference_action(sample)
        dars = self.dars_factor * float(sample.info.get("difficulty", 1.0))
        if ref["type"] == "click":
            return dars * self.sim(pred["name"], ref["name"])
        if ref["type"] == "type_and_submit":
            return 0.1 * self.sim(pred["name"], ref["name"]) + dars * self.sim(pred["text"], ref["text"])
        return 0.0


def hierarchical_action(
    *,
    format_weight: float = 0.5,
    type_weight: float = 0.3,
    sim_threshold: float = 0.75,
    dars_factor: float = 1.0,
    name: str = "hierarchical_action",
    on_error: str = "raise",
) -> WeightedSum:
    """Shop-R1: format_weight x format + Hierarchical(type_weight x type, then attribute, value)."""
    levels = Hierarchical(
        [
            ShopActionType(on_error=on_error),
            ShopAttribute(on_error=on_error),
            ShopValue(sim_threshold=sim_threshold, dars_factor=dars_factor, on_error=on_error),
        ],
        weights=[type_weight, 1.0, 1.0],
        thresholds=[1.0, -math.inf, -math.inf],
        name="shop_action",
    )
    return WeightedSum([ShopFormat(on_error=on_error), levels], [format_weight, 1.0], name=name)
