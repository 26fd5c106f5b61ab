"""Reward timeouts (from the main thread and from worker threads) and TRL's own shipped reward
functions through from_trl: every mistake is a message naming the reward, the sample and what is valid."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import Sample, WeightedSum, from_trl, reward
from rewardlab.rewards.base import set_timeout

trl_rewards = pytest.importorskip("trl.rewards")


def spins(sample):
    if sample.completion == "hang":
        while True:  # pure Python: stopped by the timeout
            pass
    return float(len(sample.completion))


def swallows(sample):
    while True:
        try:
            while True:
                pass
        except Exception:  # a reward that catches everything still cannot keep the thread
            continue


def test_a_hanging_reward_is_a_named_error_not_a_hang():
    r = reward(spins, name="spins", timeout_s=0.3)
    start = time.monotonic()
    with pytest.raises(
        RewardlabError,
        match=r"reward 'spins' ran past its timeout_s=0.3 s \(stopped\) on sample 1 \(completion 'hang'\)\. .*raise timeout_s",
    ):
        r([Sample(completion="ab"), Sample(completion="hang")])
    assert time.monotonic() - start < 3.0


def test_on_error_zero_counts_timeouts_and_keeps_the_other_scores():
    r = reward(spins, name="spins", timeout_s=0.3, on_error="zero")
    res = r.score([Sample(completion="abc"), Sample(completion="hang"), Sample(completion="x")])
    assert res.total.tolist() == [3.0, 0.0, 1.0]
    assert res.counts["spins/timeouts"] == 1 and res.counts["spins/errors"] == 1
    assert res.metrics()["reward/spins/timeouts"] == 1.0
    assert "timeout_s=0.3 s (stopped)" in res.notes[1]


def test_the_hung_thread_is_really_stopped_even_if_it_catches_exceptions():
    before = threading.active_count()
    res = reward(swallows, name="swallows", timeout_s=0.2, on_error="zero").score([Sample(completion="x")])
    assert res.counts["swallows/timeouts"] == 1 and "(stopped)" in res.notes[0]
    time.sleep(0.1)
    assert threading.active_count() == before  # not left spinning in the background


def test_code_blocked_in_c_is_reported_as_left_running():
    def sleeper(sample):
        time.sleep(1.0)  # C code: the stop lands only when it returns
        return 1.0

    res = reward(sleeper, name="sleeper", timeout_s=0.1, on_error="zero").score([Sample(completion="x")])
    assert res.total.tolist() == [0.0] and "blocked in C code, left running in the background" in res.notes[0]


def test_timeouts_work_from_worker_threads_and_never_touch_other_scores():
    # verl's signal.alarm-based limit zeroed every score when called off the main thread.
    r = reward(spins, name="spins", timeout_s=0.5, on_error="zero")
    batches = [
        [Sample(completion="a" * k), Sample(completion="hang" if k == 2 else "bb")] for k in range(1, 5)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(r.score, batches))
    assert [res.total.tolist() for res in results] == [[1.0, 2.0], [2.0, 0.0], [3.0, 2.0], [4.0, 2.0]]
    assert [res.counts["spins/timeouts"] for res in results] == [0, 1, 0, 0]


def test_set_timeout_reaches_every_leaf_and_bad_values_name_what_is_valid():
    fast = reward(lambda s: 1.0, name="fast")
    slow = reward(spins, name="slow", timeout_s=2.0)
    combo = set_timeout(WeightedSum([fast, slow]), 0.5)
    assert (fast.timeout_s, slow.timeout_s) == (0.5, 2.0)  # one already set keeps its own
    for bad in (0, -1, float("nan"), "5", True):
        with pytest.raises(
            ConfigError, match=r"timeout_s must be a number of seconds > 0 \(or None for no limit\), got"
        ):
            reward(spins, name="spins", timeout_s=bad)
    assert combo([Sample(completion="ab")]).tolist() == [1.0 + 2.0]


def test_trl_think_format_reward_with_text_prompts():
    # TRL's shipped function indexes completion[0]["content"]; text prompts used to crash it
    # with an error suggesting on_error="zero", which would have zeroed every value.
    r = from_trl(trl_rewards.think_format_reward)
    text = [
        Sample(prompt="What is 2+2?", completion="<think>\n2+2=4\n</think>\n4"),
        Sample(prompt="Hi", completion="4"),
    ]
    assert r(text).tolist() == [1.0, 0.0]
    chat = [
        Sample(prompt=[{"role": "user", "content": "What is 2+2?"}], completion=s.completion) for s in text
    ]
    assert r(chat).tolist() == [1.0, 0.0]


def test_an_unannotated_conversational_function_is_detected_from_its_failures():
    def first_content(prompts, completions, **kwargs):
        return [float(c[0]["content"].startswith("<think>")) for c in completions]

    r = from_trl(first_content)
    assert r(
        [Sample(prompt="q", completion="<think>a</think>"), Sample(prompt="q", completion="b")]
    ).tolist() == [1.0, 0.0]
    assert r.format == "conversational"


def test_a_function_that_fits_neither_format_says_so_without_suggesting_zero():
    def wants_text_key(prompts, completions, **kwargs):
        return [float(len(c["text"])) for c in completions]

    with pytest.raises(RewardlabError) as e:
        from_trl(wants_text_key)([Sample(prompt="q", completion="a"), Sample(prompt="q", completion="b")])
    msg = str(e.value)
    assert "reward 'wants_text_key' raised TypeError" in msg and "on sample 0" in msg
    assert (
        "failed on every sample of the batch, with the completions passed as text and as conversational (the prompts are text)"
        in msg
    )
    assert "conversational=True/False forces a format" in msg
    assert "on_error" not in msg


def test_a_function_failing_on_some_samples_keeps_its_format_and_names_the_sample():
    def inverse_length(prompts, completions, **kwargs):
        return [1.0 / len(c) for c in completions]

    r = from_trl(inverse_length)
    with pytest.raises(
        RewardlabError,
        match=r"raised ZeroDivisionError: float division by zero on sample 1 .*if only some samples are affected",
    ):
        r([Sample(prompt="q", completion="ab"), Sample(prompt="q", completion="")])
    assert r.format is None  # no switch to the conversational form (where len would be 1)


def test_trl_function_needing_a_missing_column_names_it():
    r = from_trl(trl_rewards.get_soft_overlong_punishment(max_completion_len=10, soft_punish_cache=5))
    with pytest.raises(
        RewardlabError,
        match=r"needs the column\(s\) 'completion_ids', which the samples do not have \(it gets: prompts, completions, solution\)",
    ):
        r([Sample(prompt="q", completion="a")])
    assert r([Sample(prompt="q", completion="a", completion_ids=list(range(7)))]).tolist() == [
        pytest.approx(-0.4)
    ]


def test_a_hanging_trl_function_times_out():
    def hangs(prompts, completions, **kwargs):
        while True:
            pass

    with pytest.raises(
        RewardlabError, match=r"reward 'hangs' ran past its timeout_s=0.2 s \(stopped\) on sample 0"
    ):
        from_trl(hangs, timeout_s=0.2)([Sample(prompt="q", completion="a")])
    res = from_trl(hangs, timeout_s=0.2, on_error="zero").score([Sample(prompt="q", completion="a")] * 2)
    assert res.total.tolist() == [0.0, 0.0] and res.counts["hangs/timeouts"] == 2


def test_a_sample_with_a_non_text_completion_is_a_message():
    with pytest.raises(
        RewardlabError, match=r"completion must be text \(a string\) or chat messages .* got 5 \(type int\)"
    ):
        Sample(completion=5)


def test_every_registered_reward_and_spec_takes_timeout_s():
    from rewardlab.rewards import build, get

    assert get("format_tags", timeout_s=2).timeout_s == 2.0
    spec = {
        "combine": "weighted_sum",
        "timeout_s": 3,
        "parts": [{"reward": "format_tags"}, {"reward": "exact_match", "timeout_s": 1}],
    }
    combo = build(spec)
    assert [p.timeout_s for p in combo.children()] == [3.0, 1.0]
    res = combo.score([Sample(completion="<think>a</think><answer>b</answer>", reference="b")])
    assert res.counts["format_tags/timeouts"] == 0 and res.counts["exact_match/timeouts"] == 0
    with pytest.raises(ConfigError, match=r"reward 'format_tags': timeout_s must be a number of seconds > 0"):
        get("format_tags", timeout_s=-1)
