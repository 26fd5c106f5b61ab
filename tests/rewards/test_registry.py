"""get / available / build: names, parameters and specs, with did-you-mean errors."""

import subprocess
import sys

import pytest

from rewardlab.errors import ConfigError, UnknownNameError
from rewardlab.rewards import Gate, Reward, Sample, WeightedSum, available, build, get

BUILTINS = [
    "airl", "airl_recovered", "box_giou", "box_iou", "bradley_terry", "code_tests", "exact_match", "format_tags", "gail", "gui_action", "hierarchical_action",
    "implicit_dpo", "length_penalty", "math_equiv", "ordered_plan_match", "orpo", "overlong_penalty", "progress", "protocol_components", "rnd", "trajectory", "vla_r1",
    "srpo",
]
TRANSITION = {"airl", "airl_recovered", "gail", "orpo", "progress", "rnd"}  # built by PPO with the env's spaces
FROM_A_RUN = {"implicit_dpo"}  # built from a trained run's directory


def test_available_lists_every_builtin_with_a_description():
    names = available()
    assert sorted(names) == sorted(BUILTINS)
    assert all(isinstance(d, str) and 10 < len(d) < 110 for d in names.values())
    for name in set(names) - TRANSITION - FROM_A_RUN:
        r = get(name)
        assert isinstance(r, Reward) and r.name == name


def test_unknown_reward_suggests_closest():
    with pytest.raises(UnknownNameError, match=r"unknown reward 'gui_actoin'\. Did you mean: gui_action\?"):
        get("gui_actoin")


def test_unknown_parameter_lists_valid_ones_and_values_are_coerced():
    with pytest.raises(ConfigError, match=r"reward 'gui_action' has no parameter 'coord_wieght'\. Did you mean: coord_weight.*Valid parameters: action_weight"):
        get("gui_action", coord_wieght=2)
    r = get("gui_action", coord_weight=2, check_args="true")
    assert r.weights["coord"] == 2.0 and r.check_args is True
    with pytest.raises(ConfigError, match="'math_equiv.tolerance': value 'tiny' is not a valid float"):
        get("math_equiv", tolerance="tiny")


def test_build_spec_recursively():
    spec = {
        "combine": "weighted_sum",
        "name": "total",
        "weights": [1.0, 0.5],
        "parts": [
            {"combine": "gate", "name": "acc", "parts": [{"reward": "format_tags"}, {"reward": "exact_match"}]},
            {"reward": "overlong_penalty", "unit": "chars", "max_length": 40, "cache_length": 10},
        ],
    }
    r = build(spec)
    assert isinstance(r, WeightedSum) and isinstance(r.rewards[0], Gate)
    s = [Sample(completion="<think>a</think><answer>Paris</answer>", reference="paris")]
    assert r(s)[0] == pytest.approx(1.0 + 0.5 * (30 - 38) / 10)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"combine": "sum", "parts": [{"reward": "format_tags"}]}, "unknown combinator 'sum'"),
        ({"combine": "clip", "parts": [{"reward": "format_tags"}]}, "needs 'low' and 'high'"),
        ({"combine": "gate", "parts": [{"reward": "format_tags"}]}, "takes 2 part"),
        ({"combine": "weighted_sum", "parts": []}, "non-empty 'parts'"),
        ({"combine": "weighted_sum", "wieghts": [1], "parts": [{"reward": "format_tags"}]}, "Did you mean: weights"),
        ({"weights": [1]}, "needs 'reward = NAME'"),
        ({"reward": "format_tags", "combine": "gate"}, "not both"),
    ],
)
def test_build_errors(spec, message):
    with pytest.raises((ConfigError, UnknownNameError), match=message):
        build(spec)


def test_import_is_light():
    code = "import sys, rewardlab.rewards as r; r.available(); print(sorted(m for m in ('sympy', 'torch', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
