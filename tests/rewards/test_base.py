"""The Reward contract: Sample, @reward, from_trl, on_error, malformed output, RewardResult."""

import math

import numpy as np
import pytest

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import Malformed, Reward, Sample, Scored, from_trl, reward


def batch(*completions, **kw):
    return [Sample(completion=c, **kw) for c in completions]


@reward(name="length_ratio")
def length_ratio(sample):
    if not sample.completion:
        raise Malformed("empty")
    return len(sample.completion) / 10


def test_reward_decorator_returns_float64_array_and_name():
    values = length_ratio(batch("abcde", "abcdefghij"))
    assert values.dtype == np.float64
    assert values.tolist() == [0.5, 1.0]
    assert length_ratio.name == "length_ratio"


def test_malformed_scores_minimum_notes_and_counts():
    @reward(name="neg", minimum=-1.0, maximum=1.0)
    def neg(sample):
        raise Malformed("no answer tag")

    res = neg.score(batch("x", "y"))
    assert res.total.tolist() == [-1.0, -1.0]
    assert res.notes == ["neg: no answer tag", "neg: no answer tag"]
    assert res.counts["neg/malformed"] == 2


def test_user_function_exception_names_reward_and_sample_index():
    @reward(name="buggy")
    def buggy(sample):
        return 1 / 0 if sample.completion == "boom" else 1.0

    with pytest.raises(RewardlabError, match=r"reward 'buggy' raised ZeroDivisionError.*sample 2"):
        buggy(batch("a", "b", "boom"))


def test_nan_and_non_number_are_errors_naming_the_sample():
    @reward(name="nanny")
    def nanny(sample):
        return {"nan": math.nan, "str": "high", "inf": math.inf}.get(sample.completion, 0.0)

    with pytest.raises(RewardlabError, match=r"'nanny' returned nan .*sample 1"):
        nanny(batch("ok", "nan"))
    with pytest.raises(RewardlabError, match=r"'nanny' returned 'high' \(a str, not a number\) on sample 0"):
        nanny(batch("str"))
    with pytest.raises(RewardlabError, match=r"returned inf"):
        nanny(batch("inf"))


def test_on_error_zero_scores_zero_and_counts_each_occurrence():
    def f(sample):
        if sample.completion == "boom":
            raise KeyError("x")
        return math.nan if sample.completion == "nan" else 0.75

    r = reward(f, name="tolerant", on_error="zero")
    res = r.score(batch("boom", "fine", "nan"))
    assert res.total.tolist() == [0.0, 0.75, 0.0]
    assert res.counts["tolerant/errors"] == 2
    assert res.notes[0].startswith("tolerant: error: raised KeyError")


def test_on_error_value_is_validated():
    with pytest.raises(ConfigError, match="on_error must be one of raise, zero"):
        reward(lambda s: 0.0, name="x", on_error="ignore")


def test_parts_become_prefixed_components_and_metrics():
    class TwoPart(Reward):
        name = "two"

        def part_bounds(self):
            return {"a": (0.0, 1.0), "b": (0.0, 1.0)}

        def compute(self, sample):
            a = float(sample.completion == "a")
            return Scored(a + 0.5, {"a": a, "b": 0.5})

    res = TwoPart().score(batch("a", "z"))
    assert res.total.tolist() == [1.5, 0.5]
    assert res.components["two/a"].tolist() == [1.0, 0.0]
    assert res.metrics() == {"reward/two": 1.0, "reward/two/a": 0.5, "reward/two/b": 0.5}
    rows = res.rows()
    assert rows[0] == {"index": 0, "two": 1.5, "components": {"two/a": 1.0, "two/b": 0.5}, "note": ""}


def test_sample_accepts_chat_completion_and_dicts():
    s = Sample(completion=[{"role": "assistant", "content": "<answer>4</answer>"}])
    assert s.completion == "<answer>4</answer>"
    assert length_ratio([{"completion": "abc"}]).tolist() == [pytest.approx(0.3)]
    with pytest.raises(RewardlabError, match="sample 0 is a int"):
        length_ratio([3])


def test_sample_cache_parses_once_and_caches_malformed():
    calls = []

    def parse(text):
        calls.append(text)
        raise Malformed("bad")

    s = Sample(completion="x")
    for _ in range(2):
        with pytest.raises(Malformed):
            s.cached("k", parse)
    assert calls == ["x"]


# ---- TRL adapter -----------------------------------------------------------------------------


def trl_accuracy(prompts, completions, solution, **kwargs):
    return [1.0 if c.strip() == s else 0.0 for c, s in zip(completions, solution)]


def test_from_trl_passes_prompts_completions_reference_and_columns():
    seen = {}

    def fn(prompts, completions, solution, difficulty, **kwargs):
        seen.update(prompts=prompts, completions=completions, difficulty=difficulty, kw=kwargs)
        return [float(c == s) * d for c, s, d in zip(completions, solution, difficulty)]

    samples = [
        Sample(prompt="p0", completion="4", reference="4", info={"difficulty": 2.0}),
        Sample(prompt="p1", completion="5", reference="4", info={"difficulty": 1.0}, completion_ids=[1]),
    ]
    r = from_trl(fn)
    assert r.name == "fn"
    assert r(samples).tolist() == [2.0, 0.0]
    assert seen["prompts"] == ["p0", "p1"] and seen["completions"] == ["4", "5"]
    assert "completion_ids" not in seen["kw"]  # only when every sample has them


def test_from_trl_conversational_prompts_get_message_completions():
    def fn(prompts, completions, solution, **kw):
        return [float(c[0]["content"] == s) for c, s in zip(completions, solution)]

    msgs = [{"role": "user", "content": "2+2?"}]
    assert from_trl(fn)([Sample(prompt=msgs, completion="4", reference="4")]).tolist() == [1.0]


def test_from_trl_none_is_not_applicable_and_nan_free():
    def fn(prompts, completions, solution, **kw):
        return [None if c == "skip" else 1.0 for c in completions]

    res = from_trl(fn, name="maybe").score(batch("a", "skip", reference="x"))
    assert res.total.tolist() == [1.0, 0.0]
    assert res.counts["maybe/not_applicable"] == 1
    assert res.notes[1] == "maybe: not applicable (None)"
    assert from_trl(fn, none_value=-1.0)(batch("skip", reference="x")).tolist() == [-1.0]


def test_from_trl_wrong_length_names_reward():
    def short(prompts, completions, **kw):
        return [1.0]

    with pytest.raises(RewardlabError, match=r"reward 'short' returned 1 values for a batch of 3 samples"):
        from_trl(short)(batch("a", "b", "c"))


def test_from_trl_exception_is_traced_to_the_sample():
    def picky(prompts, completions, **kw):
        return [1.0 / len(c) for c in completions]

    with pytest.raises(RewardlabError, match=r"'picky' raised ZeroDivisionError.*sample 1"):
        from_trl(picky)(batch("ab", "", "c"))
    res = from_trl(picky, on_error="zero").score(batch("ab", "", "c"))
    assert res.total.tolist() == [0.5, 0.0, 1.0]
    assert res.counts["picky/errors"] == 1


def test_from_trl_nan_value_is_an_error():
    def nan_fn(prompts, completions, **kw):
        return [math.nan for _ in completions]

    with pytest.raises(RewardlabError, match=r"'nan_fn' returned nan .*sample 0"):
        from_trl(nan_fn)(batch("a"))
