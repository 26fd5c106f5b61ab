"""box_iou, box_giou, trajectory (OSDFD) and vla_r1: values computed by hand from the formulas."""

import math

import pytest

from rewardlab.errors import RewardlabError
from rewardlab.rewards import Sample, get
from rewardlab.rewards.trajectory import osdfd

D = math.sqrt(2) + 0.25 * math.pi + 0.10 * math.log(10)  # VLA-R1's OSDFD normaliser


def one(name, completion, reference, **params):
    res = get(name, **params).score([Sample(completion=completion, reference=reference)])
    return float(res.total[0]), res


@pytest.mark.parametrize(
    "pred, ref, iou, giou_score",
    [
        ([0, 0, 2, 2], [0, 0, 2, 2], 1.0, 1.0),
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7, 29 / 63),  # inter 1, union 7, hull 9: GIoU = 1/7 - 2/9
        ([0, 0, 1, 1], [2, 2, 3, 3], 0.0, 1 / 9),  # hull 9, union 2: GIoU = -7/9
        ([0, 0, 1, 1], [1, 0, 2, 1], 0.0, 0.5),  # touching edges: hull = union
        ([1, 1, 1, 1], [0, 0, 2, 2], 0.0, 0.5),  # zero-area box inside: IoU 0, hull = union
        ([1, 1, 1, 1], [1, 1, 1, 1], 0.0, 0.5),  # both zero area: union 0 -> IoU 0; GIoU 0 (VLA-R1 floors)
        ([2, 2, 0, 0], [0, 0, 2, 2], 0.0, 0.5),  # inverted corners: zero area; hull = union = 4
    ],
)
def test_box_iou_and_giou(pred, ref, iou, giou_score):
    text = f"<answer>{pred}</answer>"
    assert one("box_iou", text, ref)[0] == pytest.approx(iou)
    assert one("box_giou", text, ref)[0] == pytest.approx(giou_score)


def test_box_centre_form_of_vla_r1():
    # [0.4,0.4,0.6,0.6] vs [0.5,0.4,0.7,0.6]: inter 0.02, union 0.06, hull 0.06
    pred = '{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}'
    ref = {"x": 0.6, "y": 0.5, "width": 0.2, "height": 0.2}
    assert one("box_iou", pred, ref)[0] == pytest.approx(1 / 3)
    assert one("box_giou", pred, ref)[0] == pytest.approx(2 / 3)
    # cxcywh lists, clipped to [0, 1]: centre (0, 0.1), size 0.4 x 0.2 -> [0, 0, 0.2, 0.2]
    assert one("box_iou", "[0.0, 0.1, 0.4, 0.2]", [0.1, 0.1, 0.2, 0.2], box_format="cxcywh")[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "completion, reason",
    [("", "empty answer"), ("<answer>[1, 2, 3]</answer>", "a box is"), ("<answer>[1, 2, 'x', 4]</answer>", "not a number"),
     ("<answer>{oops</answer>", "not JSON"), ("<answer>[1, 2, NaN, 4]</answer>", "not finite")],
)
def test_box_malformed_scores_zero(completion, reason):
    for name in ("box_iou", "box_giou"):
        value, res = one(name, completion, [0, 0, 1, 1])
        assert value == 0.0 and res.counts[f"{name}/malformed"] == 1 and reason in res.notes[0]


def test_trajectory_hand_values():
    same = [[0, 0], [0.5, 0.5], [1, 1]]
    assert one("trajectory", f"<answer>{same}</answer>", same)[0] == pytest.approx(1.0)
    # single points one apart: directions and lengths vanish, cost = distance 1
    assert one("trajectory", "[[0, 0]]", [[1, 0]])[0] == pytest.approx(1 - 1 / D)
    # reversed segment: every direction pair is opposite (angle pi); best coupling costs 1 + pi/4
    assert one("trajectory", "[[1, 0], [0, 0]]", [[0, 0], [1, 0]])[0] == pytest.approx(1 - (1 + math.pi / 4) / D)
    # different lengths: the middle point is 0.5 from both reference points; length ratio ln 2 everywhere
    assert one("trajectory", "[[0, 0], [0.5, 0], [1, 0]]", [[0, 0], [1, 0]])[0] == pytest.approx(
        1 - (0.5 + 0.1 * math.log(2)) / D
    )
    # points outside [0, 1] are clipped (VLA-R1 _parse_traj)
    assert one("trajectory", "[[-5, 0], [9, 0]]", [[0, 0], [1, 0]])[0] == pytest.approx(1.0)
    # far away: capped at 0
    assert osdfd([(0.0, 0.0)], [(10.0, 0.0)]) == pytest.approx(10.0)


def test_trajectory_malformed():
    for text in ("", "[]", "[[0, 0], [1]]", "[[0, 0], 'x']"):
        value, res = one("trajectory", text, [[0, 0], [1, 1]])
        assert value == 0.0 and res.counts["trajectory/malformed"] == 1


BOX = {"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}


@pytest.mark.parametrize(
    "completion, reference, expected",
    [
        ('<think>t</think><output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>', BOX, 1.0),
        ('<output>{"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2}</output>', BOX, 0.9),
        ('<think>t</think><output>{"x": 0.6, "y": 0.5, "width": 0.2, "height": 0.2}</output>', BOX, 0.9 * 2 / 3 + 0.1),
        ("<think>t</think><output>{'x': 0.5}</output>", BOX, 0.0),  # not JSON: no format, no task
        ("<think>t</think>", BOX, 0.0),
        ("<think>t</think><output>[[0, 0], [1, 0]]</output>", BOX, 0.1),  # wrong kind: task 0
        ("<think>t</think><output>[[0, 0], [1, 0]]</output>", "<output>[[0, 0], [1, 0]]</output>", 1.0),
        ("<think>t</think><output>[[1, 0], [0, 0]]</output>", [[0, 0], [1, 0]], 0.9 * (1 - (1 + math.pi / 4) / D) + 0.1),
        ("", BOX, 0.0),
    ],
)
def test_vla_r1(completion, reference, expected):
    res = get("vla_r1").score([Sample(completion=completion, reference=reference)])
    assert res.total[0] == pytest.approx(expected)
    assert set(res.components) == {"vla_r1_task", "vla_r1_format"}


def test_vla_r1_bad_reference_is_an_error():
    with pytest.raises(RewardlabError, match="'vla_r1_task' raised ValueError: reference"):
        get("vla_r1")([Sample(completion="<output>[]</output>", reference={"foo": 1})])
