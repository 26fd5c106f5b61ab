"""ordered_plan_match (REVER), protocol_components (Thoth SCORE), hierarchical_action (Shop-R1)."""

import json
import math

import pytest

from rewardlab.rewards import Sample, get

PLAN = ["pick cup", "place cup in sink", "open tap"]


@pytest.mark.parametrize(
    "completion, params, expected",
    [
        (json.dumps(PLAN), {}, 1.0),
        ("<answer>" + json.dumps(["place cup in sink", "pick cup", "open tap"]) + "</answer>", {}, 2 / 3),
        (json.dumps(["dance", "sing"]), {}, 0.0),
        (json.dumps(["pick cup", "place cup in sink"]), {}, 0.8),  # 2 matched of 2 and 3 steps
        (json.dumps(PLAN + ["close tap", "dry cup"]), {}, 0.75),  # 3 matched, 5 + 3 steps
        ("1. Pick cup\n2. Place cup in sink.\nStep 3: open tap", {}, 1.0),
        ("[{'skill': 'pick cup'}, {'skill': 'place cup in sink'}, {'skill': 'open tap'}]", {}, 1.0),
        (json.dumps(["grab cup", "place cup in sink", "open tap"]), {}, 2 / 3),
        (json.dumps(["grab cup", "place cup in sink", "open tap"]), {"aliases": {"grab cup": "pick cup"}}, 1.0),
        (json.dumps(["pick up the cup", "place the cup in the sink", "open tap"]), {"similarity": "rouge_l"}, 1.0),
    ],
)
def test_ordered_plan_match(completion, params, expected):
    assert get("ordered_plan_match", **params)([Sample(completion=completion, reference=PLAN)])[0] == pytest.approx(expected)


def test_ordered_plan_match_unicode_and_empty():
    r = get("ordered_plan_match")
    assert r([Sample(completion="- Öffne die Tür\n- 开灯", reference=["öffne die tür", "开灯"])])[0] == 1.0
    res = r.score([Sample(completion="   ", reference=PLAN)])
    assert res.total[0] == 0.0 and res.counts["ordered_plan_match/malformed"] == 1


KEY = [
    {"action": "measure", "objects": ["premix"], "parameters": ["1 ml"]},
    {"action": "add", "objects": ["ammonium persulfate"], "parameters": ["5 µl"]},
    {"action": "mix", "objects": ["solution"], "parameters": []},
]


def protocol(steps, orc=None, note=True):
    key = "\n".join(f"Step {i + 1}: {json.dumps(s, ensure_ascii=False)}" for i, s in enumerate(steps))
    if orc is None:
        orc = "\n".join(f"Step {i + 1}: {s['action'].capitalize()} the {', '.join(s['objects'])}." for i, s in enumerate(steps))
    text = f"<think>plan</think>\n<key>\n{key}\n</key>\n<orc>\n{orc}\n</orc>"
    return text + ("\n<note>wear gloves</note>" if note else "")


def score_protocol(completion, **params):
    res = get("protocol_components", **params).score([Sample(completion=completion, reference=KEY)])
    return res.total[0], {k.split("/")[1]: v[0] for k, v in res.components.items()}, res


def test_protocol_reference_scores_one():
    total, parts, _ = score_protocol(protocol(KEY))
    assert total == 1.0 and parts == dict.fromkeys(("format", "consistency", "step_scale", "order", "content"), 1.0)


def test_protocol_swapped_steps_lower_only_the_order_term():
    swapped = [KEY[1], KEY[0], KEY[2]]
    total, parts, _ = score_protocol(protocol(swapped))  # strict_subseq: order 0
    assert (total, parts["order"], parts["content"], parts["step_scale"]) == (0.0, 0.0, 1.0, 1.0)
    total, parts, _ = score_protocol(protocol(swapped), order_mode="lcs")  # LCS 2 of 3
    assert total == pytest.approx(2 / 3) and parts["content"] == 1.0


def test_protocol_extra_step_lowers_step_scale():
    extra = KEY + [{"action": "incubate", "objects": ["gel"], "parameters": ["10 min"]}]
    total, parts, _ = score_protocol(protocol(extra))
    assert parts["step_scale"] == pytest.approx(math.cos(math.pi / 8))  # d = 1, M = 4
    assert total == pytest.approx(math.cos(math.pi / 8))


def test_protocol_content_overlap():
    partial = [dict(KEY[0], objects=["premix", "buffer"]), KEY[1], KEY[2]]  # object F1 = 2/3
    total, parts, _ = score_protocol(protocol(partial))
    assert parts["content"] == pytest.approx((5 / 6 + 1 + 1) / 3)
    total, parts, _ = score_protocol(protocol(partial), combine_mode="product", final_combine="sum")
    assert parts["content"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert total == pytest.approx((1 + (2 / 3 + 2) / 3) / 2)


def test_protocol_gates():
    total, parts, res = score_protocol(protocol(KEY, note=False))
    assert total == 0.0 and "missing <note>" in res.notes[0]
    total, parts, res = score_protocol(protocol(KEY, orc="Step 1: Measure premix.\nStep 2: Add it."))
    assert total == 0.0 and parts["format"] == 1.0 and parts["consistency"] == 0.0
    assert score_protocol(protocol(KEY, orc="Step 1: x"), check_consistency=False)[0] == 1.0
    total, _, res = score_protocol("<think/><key>Step 1: {not json}</key><orc>a</orc><note>n</note>")
    assert total == 0.0 and res.counts["protocol_components/malformed"] == 1
    assert score_protocol("")[0] == 0.0


CLICK = {"type": "click", "name": "add_to_cart"}
SEARCH = {"type": "type_and_submit", "name": "search_input", "text": "red running shoes"}


def shop(action, rationale="because"):
    return json.dumps({"rationale": rationale, "action": action})


@pytest.mark.parametrize(
    "completion, reference, info, expected",
    [
        (shop(CLICK), CLICK, {}, 0.5 + 0.3 + 0.2 + 1.0),
        (shop({"type": "click", "name": "add to cart"}), {"type": "click", "name": "add to cart button"}, {}, 1.0 + 6 / 7),
        (shop({"type": "click", "name": "checkout"}), CLICK, {}, 1.0),  # value below the 0.75 threshold
        (shop(CLICK), CLICK, {"difficulty": 0.5}, 1.0 + 0.5),
        (shop(SEARCH), SEARCH, {}, 0.5 + 0.3 + 0.2 + 0.1 + 1.0),
        (shop(dict(SEARCH, text="blue dress")), SEARCH, {}, 0.5 + 0.3 + 0.2 + 0.1),
        (shop({"type": "type_and_submit", "name": "search_input", "value": "red running shoes"}), SEARCH, {}, 2.1),
        (shop({"type": "terminate", "name": "add_to_cart"}), CLICK, {}, 0.5),  # wrong type: format only
        # anti-hacking: a terminate padded with text earns no more than a bare terminate
        (shop({"type": "terminate", "text": "add_to_cart red running shoes"}), {"type": "terminate"}, {}, 0.8),
        (shop({"type": "terminate"}), {"type": "terminate"}, {}, 0.8),
        ("Sure! " + shop(CLICK) + " hope this helps", CLICK, {}, 2.0),
        (json.dumps({"action": CLICK}), CLICK, {}, 0.0),  # no rationale: malformed
        ("", CLICK, {}, 0.0),
    ],
)
def test_hierarchical_action(completion, reference, info, expected):
    res = get("hierarchical_action").score([Sample(completion=completion, reference=reference, info=info)])
    assert res.total[0] == pytest.approx(expected)
    assert {"shop_format", "shop_action", "shop_type", "shop_attribute", "shop_value"} == set(res.components)


def test_hierarchical_action_dars_factor():
    r = get("hierarchical_action", dars_factor=10.0)
    assert r([Sample(completion=shop(CLICK), reference=CLICK)])[0] == pytest.approx(1.0 + 10.0)
    assert r.maximum == pytest.approx(1.1 + 10.0)
