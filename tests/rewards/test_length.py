"""overlong_penalty (DAPO) and length_penalty (Kimi k1.5): piecewise values by hand."""

import pytest

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import Sample, get


@pytest.mark.parametrize("length, expected", [(0, 0.0), (80, 0.0), (81, -0.05), (90, -0.5), (100, -1.0), (101, -1.0), (5000, -1.0)])
def test_overlong_penalty_piecewise(length, expected):
    r = get("overlong_penalty", max_length=100, cache_length=20, unit="chars")
    assert r([Sample(completion="x" * length)])[0] == pytest.approx(expected)


def test_overlong_penalty_counts_tokens_words_and_unicode_chars():
    r = get("overlong_penalty", max_length=100, cache_length=20)
    assert r([Sample(completion="ignored", completion_ids=list(range(85)))])[0] == pytest.approx(-0.25)
    assert r([Sample(completion="ignored", info={"num_tokens": 95})])[0] == pytest.approx(-0.75)
    words = get("overlong_penalty", max_length=4, cache_length=2, unit="words")
    assert words([Sample(completion="one two three")])[0] == pytest.approx(-0.5)
    chars = get("overlong_penalty", max_length=4, cache_length=2, unit="chars")
    assert chars([Sample(completion="日本語")])[0] == pytest.approx(-0.5)  # 3 characters, not 9 bytes


def test_overlong_penalty_defaults_are_dapo_and_bad_config_is_rejected():
    r = get("overlong_penalty")
    assert (r.max_length, r.cache_length) == (20480, 4096)
    with pytest.raises(ConfigError, match="cache_length <= max_length"):
        get("overlong_penalty", max_length=10, cache_length=20)
    with pytest.raises(ConfigError, match="unit must be one of tokens, chars, words"):
        get("overlong_penalty", unit="bytes")
    with pytest.raises(RewardlabError, match=r"'overlong_penalty' raised ValueError: unit='tokens' needs.*sample 1"):
        r([Sample(completion="a", completion_ids=[1]), Sample(completion="b")])


def group(lengths, prompt="p", correct=None):
    return [
        Sample(prompt=prompt, completion=" ".join(["w"] * n), info={} if correct is None else {"correct": correct[i]})
        for i, n in enumerate(lengths)
    ]


def test_length_penalty_kimi_group_formula():
    r = get("length_penalty", unit="words")
    assert r(group([10, 20, 30])).tolist() == [0.5, 0.0, -0.5]
    assert r(group([10, 20, 30], correct=[False, False, True])).tolist() == [0.0, 0.0, -0.5]
    assert r(group([7, 7])).tolist() == [0.0, 0.0]
    # groups are per prompt: each is normalised on its own
    mixed = group([10, 30], prompt="a") + group([100, 200, 300], prompt="b")
    assert r(mixed).tolist() == [0.5, -0.5, 0.5, 0.0, -0.5]
    keyed = [Sample(prompt="same", completion="w " * n, info={"group": g}) for n, g in [(1, 0), (3, 0), (100, 1)]]
    assert r(keyed).tolist() == [0.5, -0.5, 0.0]
