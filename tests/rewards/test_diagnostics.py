"""Per-component statistics, correlation matrix, and the reward-hacking monitor."""

import math

import numpy as np
import pytest

from rewardlab.errors import ConfigError
from rewardlab.rewards import Sample, get
from rewardlab.rewards.diagnostics import HackingMonitor, component_stats, correlation_matrix, pearson


def test_component_stats_use_declared_maximum():
    res = get("gui_action").score(
        [
            Sample(
                completion="<think>a</think><answer>{'action': 'click', 'coordinate': [1, 1]}</answer>",
                reference={"action": "click", "bbox": [0, 0, 2, 2]},
            ),
            Sample(
                completion="<think>a</think><answer>{'action': 'click', 'coordinate': [9, 9]}</answer>",
                reference={"action": "click", "bbox": [0, 0, 2, 2]},
            ),
            Sample(completion="nothing", reference={"action": "click", "bbox": [0, 0, 2, 2]}),
            Sample(
                completion="<think>a</think><answer>{'action': 'scroll'}</answer>",
                reference={"action": "click", "bbox": [0, 0, 2, 2]},
            ),
        ]
    )
    stats = component_stats(res)
    assert res.total.tolist() == [3.0, 2.0, 0.0, 1.0]
    assert stats["gui_action"] == {
        "mean": 1.5,
        "std": pytest.approx(math.sqrt(1.25)),
        "min": 0.0,
        "max": 3.0,
        "frac_zero": 0.25,
        "frac_at_max": 0.25,
    }
    assert stats["gui_action/coord"]["frac_at_max"] == 0.25
    assert stats["gui_action/format"]["frac_zero"] == 0.25


def test_component_stats_from_plain_dict_and_empty():
    stats = component_stats({"a": [0.0, 0.5, 0.5]})
    assert stats["a"]["frac_at_max"] == pytest.approx(2 / 3)  # no declared max: the batch max
    assert math.isnan(component_stats({"a": []})["a"]["mean"])


def test_correlation_matrix():
    names, corr = correlation_matrix({"a": [1, 2, 3], "b": [2, 4, 6], "c": [3, 2, 1], "k": [1, 1, 1]})
    assert names == ["a", "b", "c", "k"]
    assert corr[0, 1] == pytest.approx(1.0) and corr[0, 2] == pytest.approx(-1.0)
    assert math.isnan(corr[0, 3]) and math.isnan(corr[3, 3])
    assert pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_hacking_monitor_quiet_while_proxy_tracks_true():
    rng = np.random.default_rng(0)
    mon = HackingMonitor(window=5, min_correlation=0.5)
    for step in range(10):
        true = rng.normal(step * 0.1, 1.0, 64)
        assert mon.update(step, true + rng.normal(0, 0.2, 64), true) == []
    assert mon.metrics()["hacking/correlation"] > 0.9


def test_hacking_monitor_warns_on_decorrelation_and_divergence():
    rng = np.random.default_rng(1)
    mon = HackingMonitor(window=4, min_correlation=0.5, min_steps=3)
    warnings = []
    for step in range(8):
        proxy = rng.normal(step * 0.5, 0.1, 32)  # proxy climbs
        true = rng.normal(-step * 0.5, 0.1, 32)  # true falls, and per-sample they are unrelated
        warnings += mon.update(step, proxy, true)
    kinds = {w.kind for w in warnings}
    assert kinds == {"low_correlation", "divergence"}
    first = warnings[0]
    assert first.step == 2
    assert str(first).startswith("step 2: reward hacking suspected")
    div = next(w for w in warnings if w.kind == "divergence")
    assert div.proxy_slope == pytest.approx(0.5, abs=0.1) and div.true_slope == pytest.approx(-0.5, abs=0.1)
    assert "proxy rises" in div.message


def test_divergence_needs_both_slopes_beyond_min_slope():
    """A flat true reward with noise falls by chance while the proxy climbs: min_slope is the margin."""

    def divergences(min_slope, true_fall):
        mon = HackingMonitor(window=4, min_correlation=-1.0, min_slope=min_slope, min_steps=3)
        out = []
        for step in range(8):
            proxy = np.full(8, 0.1 * step)  # climbs 0.1 per step
            true = np.full(8, 0.5 - true_fall * step)
            out += [w for w in mon.update(step, proxy, true) if w.kind == "divergence"]
        return out

    assert len(divergences(0.0, 0.001)) == 6  # steps 2..7: any opposite trend warns
    assert divergences(0.01, 0.001) == []  # a fall of 0.001 per step is inside the margin
    assert len(divergences(0.01, 0.05)) == 6  # a real fall still warns


def test_a_negative_hacking_min_slope_is_refused_by_name():
    from rewardlab.config import build_config
    from rewardlab.llm.grpo import GRPOConfig

    with pytest.raises(ConfigError, match="hacking_min_slope"):
        build_config(GRPOConfig, sets=["hacking_min_slope=-0.1"])


def test_hacking_monitor_validates():
    with pytest.raises(ConfigError):
        HackingMonitor(window=1)
    with pytest.raises(ValueError, match="must be equal 1-D"):
        HackingMonitor().update(0, [1.0, 2.0], [1.0])
