"""gui_action (UI-R1): hand-computed R_act + R_coord + R_fmt for each case of the paper's code."""

import pytest

from rewardlab.errors import RewardlabError
from rewardlab.rewards import Sample, get

CLICK = {"action": "click", "bbox": [10, 20, 50, 60]}


def ans(action, think=True):
    return ("<think>reasoning</think>" if think else "") + f"<answer>{action}</answer>"


CASES = [
    # completion, reference, info, params, (total, action, coord, format)
    (ans("[{'action': 'click', 'coordinate': [30, 40]}]"), CLICK, {}, {}, (3, 1, 1, 1)),
    (ans('{"action": "click", "coordinate": [30, 40]}'), CLICK, {}, {}, (3, 1, 1, 1)),
    (ans("[{'action': 'click', 'coordinate': [70, 40]}]"), CLICK, {}, {}, (2, 1, 0, 1)),
    (ans("[{'action': 'scroll', 'direction': 'up'}]"), CLICK, {}, {}, (1, 0, 0, 1)),
    (ans("[{'action': 'click', 'coordinate': [30, 40]}]", think=False), CLICK, {}, {}, (2, 1, 1, 0)),
    # exactly on the box edges (inclusive, as in UI-R1)
    (ans("[{'action': 'click', 'coordinate': [10, 20]}]"), CLICK, {}, {}, (3, 1, 1, 1)),
    (ans("[{'action': 'click', 'coordinate': [50, 60]}]"), CLICK, {}, {}, (3, 1, 1, 1)),
    (ans("[{'action': 'click', 'coordinate': [51, 60]}]"), CLICK, {}, {}, (2, 1, 0, 1)),
    # UI-R1 truncates the scaled point to int: 9.9 -> 9 is outside [10, 50]
    (ans("[{'action': 'click', 'coordinate': [9.9, 40]}]"), CLICK, {}, {}, (2, 1, 0, 1)),
    (ans("[{'action': 'click', 'coordinate': [9.9, 40]}]"), CLICK, {}, {"truncate": False}, (2, 1, 0, 1)),
    (ans("[{'action': 'click', 'coordinate': [10.5, 40]}]"), CLICK, {}, {"truncate": False}, (3, 1, 1, 1)),
    # the image scale factor of UI-R1 (`scales`)
    (ans("[{'action': 'click', 'coordinate': [15, 20]}]"), CLICK, {"scale": [2, 2]}, {}, (3, 1, 1, 1)),
    (ans("[{'action': 'click', 'coordinate': [30, 40]}]"), CLICK, {"scale": [2, 2]}, {}, (2, 1, 0, 1)),
    # non-click actions: a matching type also gives R_coord
    (ans("[{'action': 'navigate_back'}]"), {"action": "navigate_back"}, {}, {}, (3, 1, 1, 1)),
    (ans("[{'action': 'input_text', 'text': 'bye'}]"), {"action": "input_text", "text": "hello"}, {}, {}, (3, 1, 1, 1)),
    (ans("[{'action': 'input_text', 'text': 'bye'}]"), {"action": "input_text", "text": "hello"}, {}, {"check_args": True}, (2, 1, 0, 1)),
    (ans("[{'action': 'input_text', 'text': 'Héllo  Wörld'}]"), {"action": "input_text", "text": "héllo wörld"}, {}, {"check_args": True}, (3, 1, 1, 1)),
    (ans("[{'action': 'scroll', 'direction': 'down'}]"), {"action": "scroll", "direction": "up"}, {}, {"check_args": True}, (2, 1, 0, 1)),
    # weights
    (ans("[{'action': 'click', 'coordinate': [30, 40]}]"), CLICK, {}, {"coord_weight": 2.0, "format_weight": 0.5}, (3.5, 1, 1, 1)),
]


@pytest.mark.parametrize("completion, reference, info, params, expected", CASES)
def test_gui_action_table(completion, reference, info, params, expected):
    res = get("gui_action", **params).score([Sample(completion=completion, reference=reference, info=info)])
    got = (res.total[0], *(res.components[f"gui_action/{p}"][0] for p in ("action", "coord", "format")))
    assert got == pytest.approx(expected)
    assert res.counts["gui_action/malformed"] == 0


MALFORMED = [
    # completion, expected total (format still counts, as in UI-R1), reason fragment
    ("", 0.0, "no <answer>"),
    ("<think>x</think> I would click the gear", 0.0, "no <answer>"),
    (ans("[{'action': 'click', 'coordinate': [30, 40]}"), 1.0, "not JSON"),
    (ans("click the gear"), 1.0, "not JSON"),
    (ans("[{'coordinate': [30, 40]}]"), 1.0, "no 'action' key"),
    (ans("[{'action': 'click', 'coordinate': [30]}]"), 2.0, "click without a valid point"),
    (ans("[{'action': 'click'}]"), 2.0, "click without a valid point"),
]


@pytest.mark.parametrize("completion, expected, reason", MALFORMED)
def test_gui_action_malformed_output_never_raises(completion, expected, reason):
    res = get("gui_action").score([Sample(completion=completion, reference=CLICK)])
    assert res.total[0] == expected
    assert res.counts["gui_action/malformed"] == 1
    assert reason in res.notes[0]


def test_gui_action_reference_as_text_and_without_answer_tag_option():
    ref_text = "<answer>[{'action': 'click', 'bbox': [10, 20, 50, 60]}]</answer>"
    assert get("gui_action")([Sample(completion=ans("[{'action': 'click', 'coordinate': [11, 21]}]"), reference=ref_text)])[0] == 3
    loose = get("gui_action", answer_tag_required=False)
    assert loose([Sample(completion="{'action': 'click', 'coordinate': [11, 21]}", reference=CLICK)])[0] == 2


def test_gui_action_bad_reference_is_an_error_not_a_zero():
    with pytest.raises(RewardlabError, match=r"'gui_action' raised ValueError: reference is not a GUI action.*sample 0"):
        get("gui_action")([Sample(completion=ans("{}"), reference={"action": "click"})])
