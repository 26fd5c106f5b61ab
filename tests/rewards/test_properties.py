"""Hypothesis properties: declared ranges, never raising on model output, IoU symmetry, permutation equivariance."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewardlab.rewards import Sample, get
from rewardlab.rewards.boxes import giou, iou
from rewardlab.rewards.trajectory import trajectory_score

REFERENCES = {
    "format_tags": None,
    "exact_match": "Paris",
    "math_equiv": "1/2",
    "gui_action": {"action": "click", "bbox": [10, 10, 50, 50]},
    "box_iou": [0, 0, 10, 10],
    "box_giou": [0, 0, 10, 10],
    "trajectory": [[0, 0], [0.5, 0.5], [1, 1]],
    "vla_r1": {"x": 0.5, "y": 0.5, "width": 0.2, "height": 0.2},
    "ordered_plan_match": ["pick cup", "open tap"],
    "protocol_components": [{"action": "add", "objects": ["salt"], "parameters": ["1 g"]}],
    "hierarchical_action": {"type": "click", "name": "buy"},
    "overlong_penalty": None,
    "length_penalty": None,
}
PARAMS = {"overlong_penalty": {"unit": "chars", "max_length": 40, "cache_length": 10}, "length_penalty": {"unit": "chars"}}

# Model output: free text, and text built from the pieces the parsers look for.
pieces = st.sampled_from(
    ["<think>", "</think>", "<answer>", "</answer>", "<output>", "</output>", "<key>", "</key>", "<orc>", "</orc>",
     "<note>", "</note>", "{", "}", "[", "]", "'action'", '"action"', ": ", "'click'", '"click"', "[1, 2]", "[0.5, 0.5]",
     "1/2", "\\boxed{", "\\frac{1}{2}", "Paris", "pick cup", "Step 1: ", "\n", ",", '"x": 0.5', '"type"', "\u00e9\u6f22", " "]
)
completions = st.one_of(st.text(max_size=80), st.lists(pieces, max_size=25).map("".join))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(completions, min_size=1, max_size=6))
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_stay_in_declared_range_and_model_output_never_raises(name, texts):
    r = get(name, **PARAMS.get(name, {}))
    res = r.score([Sample(prompt="p", completion=t, reference=REFERENCES[name]) for t in texts])
    assert res.total.dtype == np.float64 and res.total.shape == (len(texts),)
    assert np.all(np.isfinite(res.total))
    assert np.all(res.total >= r.minimum - 1e-12) and np.all(res.total <= r.maximum + 1e-12)
    for comp, values in res.components.items():
        lo, hi = res.bounds[comp]
        assert np.all(values >= lo - 1e-12) and np.all(values <= hi + 1e-12), comp
    assert res.counts.get(f"{r.name}/errors", 0) == 0


coord = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
box = st.tuples(coord, coord, coord, coord)


@settings(max_examples=200, deadline=None)
@given(box, box)
def test_iou_and_giou_are_symmetric_and_bounded(a, b):
    assert iou(a, b) == pytest.approx(iou(b, a), abs=1e-12)
    assert giou(a, b) == pytest.approx(giou(b, a), abs=1e-12)
    assert 0.0 <= iou(a, b) <= 1.0 and -1.0 <= giou(a, b) <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.tuples(coord, coord), st.floats(0.01, 50), st.floats(0.01, 50))
def test_iou_of_a_box_with_itself_is_one(corner, w, h):
    b = (corner[0], corner[1], corner[0] + w, corner[1] + h)
    assert iou(b, b) == pytest.approx(1.0) and giou(b, b) == pytest.approx(1.0)


point = st.tuples(st.floats(0, 1), st.floats(0, 1))


@settings(max_examples=100, deadline=None)
@given(st.lists(point, min_size=1, max_size=6), st.lists(point, min_size=1, max_size=6))
def test_trajectory_score_in_unit_interval_and_one_on_itself(p, q):
    assert 0.0 <= trajectory_score(p, q) <= 1.0
    assert trajectory_score(p, p) == pytest.approx(1.0)


def _batch():
    gui_ref = {"action": "click", "bbox": [10, 10, 50, 50]}
    return [
        Sample(prompt="a", completion="<think>x</think><answer>{'action': 'click', 'coordinate': [20, 20]}</answer>", reference=gui_ref),
        Sample(prompt="a", completion="<think>x</think><answer>{'action': 'click', 'coordinate': [90, 20]}</answer>", reference=gui_ref),
        Sample(prompt="b", completion="<answer>[{'action': 'scroll'}]</answer> and more words", reference=gui_ref),
        Sample(prompt="b", completion="", reference=gui_ref),
        Sample(prompt="a", completion="{not json", reference=gui_ref),
        Sample(prompt="c", completion="<think>é</think><answer>" + json.dumps({"action": "click", "coordinate": [10, 50]}) + "</answer>", reference=gui_ref),
    ]


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(6)))
@pytest.mark.parametrize("name", ["gui_action", "format_tags", "length_penalty", "overlong_penalty"])
def test_permuting_the_batch_permutes_the_scores(name, perm):
    r = get(name, **({"unit": "chars"} if name in ("length_penalty", "overlong_penalty") else {}))
    batch = _batch()
    base = r.score(batch)
    permuted = r.score([batch[i] for i in perm])
    np.testing.assert_array_equal(permuted.total, base.total[list(perm)])
    for comp in base.components:
        np.testing.assert_array_equal(permuted.components[comp], base.components[comp][list(perm)])
