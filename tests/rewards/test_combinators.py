"""Combinators: hand-computed values, component exposure, and (hypothesis) equality with their definitions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewardlab.errors import ConfigError
from rewardlab.rewards import Clip, Gate, Hierarchical, Sample, Scale, WeightedSum, reward


def column(key, lo=0.0, hi=1.0):
    """A reward that reads sample.info[key]: lets tests choose every component's values."""
    return reward(lambda s: s.info[key], name=key, minimum=lo, maximum=hi)


def samples_from(**cols):
    n = len(next(iter(cols.values())))
    return [Sample(completion=str(i), info={k: v[i] for k, v in cols.items()}) for i in range(n)]


A, B, C = column("a"), column("b"), column("c")


def test_weighted_sum_values_components_and_range():
    ws = WeightedSum([A, B], [0.9, 0.1], name="vla")
    res = ws.score(samples_from(a=[1.0, 0.5], b=[1.0, 0.0]))
    np.testing.assert_allclose(res.total, [1.0, 0.45])
    assert set(res.components) == {"a", "b"}
    assert res.metrics()["reward/a"] == 0.75
    assert (ws.minimum, ws.maximum) == (0.0, 1.0)
    assert WeightedSum([A, B], [1.0, -2.0]).minimum == -2.0


def test_gate_passes_reward_only_where_gate_is_at_its_maximum():
    g = Gate(A, B, name="gated")
    res = g.score(samples_from(a=[1.0, 0.0, 0.99], b=[0.7, 0.7, 0.7]))
    assert res.total.tolist() == [0.7, 0.0, 0.0]
    assert res.components["b"].tolist() == [0.7, 0.7, 0.7]  # the raw reward stays visible
    assert Gate(A, B, threshold=0.5, fail_value=-1.0)(samples_from(a=[0.4], b=[0.3])).tolist() == [-1.0]


def test_clip_and_scale():
    s = samples_from(a=[-2.0, 0.5, 3.0])
    assert Clip(column("a", -5, 5), -1.0, 1.0)(s).tolist() == [-1.0, 0.5, 1.0]
    sc = Scale(column("a", 0, 100), 0.01, name="emotion")
    assert sc(samples_from(a=[30.0]))[0] == pytest.approx(0.3)
    assert (sc.minimum, sc.maximum) == (0.0, 1.0)
    with pytest.raises(ConfigError, match="low .* must be <= high"):
        Clip(A, 1.0, 0.0)


def test_hierarchical_gates_later_levels_on_earlier_ones():
    h = Hierarchical([A, B, C], weights=[0.3, 1.0, 1.0], thresholds=[1.0, -math.inf, -math.inf])
    res = h.score(samples_from(a=[1.0, 0.0], b=[0.2, 0.2], c=[0.5, 0.5]))
    np.testing.assert_allclose(res.total, [0.3 + 0.2 + 0.5, 0.0])
    # default thresholds: each level must reach its maximum for the next to count
    d = Hierarchical([A, B, C])(samples_from(a=[1.0, 1.0], b=[1.0, 0.5], c=[0.25, 0.25]))
    np.testing.assert_allclose(d, [2.25, 1.5])


def test_nested_combinators_expose_every_component_and_counts():
    @reward(name="fmt")
    def fmt(s):
        return float(s.completion.startswith("<"))

    inner = Gate(fmt, A, name="acc_if_fmt")
    outer = WeightedSum([inner, B], [1.0, 0.5], name="total")
    s = [Sample(completion="<x>", info={"a": 1.0, "b": 1.0}), Sample(completion="x", info={"a": 1.0, "b": 0.0})]
    res = outer.score(s)
    assert res.total.tolist() == [1.5, 0.0]
    assert list(res.components) == ["acc_if_fmt", "fmt", "a", "b"]


def test_duplicate_part_names_are_rejected():
    with pytest.raises(ConfigError, match="both named 'a'"):
        WeightedSum([A, column("a")])
    with pytest.raises(ConfigError, match="2 weights for 1 rewards"):
        WeightedSum([A], [1.0, 2.0])
    with pytest.raises(ConfigError, match="is not a Reward"):
        WeightedSum([lambda s: 0.0])




@settings(max_examples=60, deadline=None)
@given(st.data())
def test_combinators_equal_their_definitions(data):
    n = data.draw(st.integers(1, 8))
    col = st.lists(st.floats(-10, 10, allow_nan=False, allow_infinity=False), min_size=n, max_size=n)
    a, b, c = data.draw(col), data.draw(col), data.draw(col)
    w = data.draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=3, max_size=3))
    t = data.draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=3, max_size=3))
    lo, hi = sorted(data.draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=2)))
    s = samples_from(a=a, b=b, c=c)
    A_, B_, C_ = column("a", -10, 10), column("b", -10, 10), column("c", -10, 10)

    np.testing.assert_allclose(
        WeightedSum([A_, B_, C_], w)(s), [w[0] * x + w[1] * y + w[2] * z for x, y, z in zip(a, b, c)], atol=1e-12
    )
    np.testing.assert_array_equal(Gate(A_, B_, threshold=t[0], fail_value=t[1])(s), [y if x >= t[0] else t[1] for x, y in zip(a, b)])
    np.testing.assert_array_equal(Clip(A_, lo, hi)(s), [min(max(x, lo), hi) for x in a])
    np.testing.assert_allclose(Scale(A_, w[0], w[1])(s), [w[0] * x + w[1] for x in a], atol=1e-12)

    expected = []
    for x, y, z in zip(a, b, c):
        total = w[0] * x
        if x >= t[0]:
            total += w[1] * y
            if y >= t[1]:
                total += w[2] * z
        expected.append(total)
    np.testing.assert_allclose(Hierarchical([A_, B_, C_], w, t)(s), expected, atol=1e-12)

    # declared ranges contain every value
    for comb in (WeightedSum([A_, B_, C_], w), Hierarchical([A_, B_, C_], w, t), Scale(A_, w[0], w[1])):
        v = comb(s)
        assert np.all(v >= comb.minimum - 1e-9) and np.all(v <= comb.maximum + 1e-9)


def test_nested_name_clash_is_rejected_but_a_shared_instance_is_fine():
    fmt = column("f")
    with pytest.raises(ConfigError, match="both named 'f'"):
        WeightedSum([Gate(fmt, A, name="g1"), Gate(column("f"), B, name="g2")])
    shared = WeightedSum([Gate(fmt, A, name="g1"), Gate(fmt, B, name="g2")])
    res = shared.score(samples_from(f=[1.0, 0.0], a=[0.5, 0.5], b=[0.25, 0.25]))
    assert res.total.tolist() == [0.75, 0.0]
    assert list(res.components) == ["g1", "f", "a", "g2", "b"]
