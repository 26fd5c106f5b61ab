"""The reward pool returns exactly the serial scores in input order, and a hung, crashed or

raising reward becomes a named error or a counted failure, never a silent zero or a hang."""

import os
import signal
import time

import numpy as np
import pytest

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import Gate, WeightedSum, get, reward
from rewardlab.rewards.base import Sample
from rewardlab.rewards.pool import RewardPool


def _samples(n):
    return [
        Sample(
            prompt=f"{i}+1?",
            completion=f"<think>x</think><answer>{i + (i % 3 == 0)}</answer>",
            reference=str(i + 1),
        )
        for i in range(n)
    ]


def _composite():
    fmt = get("format_tags")
    return WeightedSum([Gate(fmt, get("exact_match"), name="gated"), fmt], [1.0, 0.1])


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_pool_equals_serial_scoring_in_input_order(chunk_size):
    samples = _samples(17)
    serial = _composite().score(samples)
    with RewardPool(_composite(), workers=3, chunk_size=chunk_size) as pool:
        pooled = pool.score(samples)
    np.testing.assert_array_equal(pooled.total, serial.total)
    assert pooled.components.keys() == serial.components.keys()
    for k in serial.components:
        np.testing.assert_array_equal(pooled.components[k], serial.components[k])
    assert pooled.notes == serial.notes
    assert {k: v for k, v in pooled.counts.items() if v} == {k: v for k, v in serial.counts.items() if v}


@reward(name="sleepy", on_error="zero")
def sleepy(sample):
    time.sleep(30 if sample.reference == "hang" else 0.0)
    return 1.0


@reward(name="sleepy_strict")
def sleepy_strict(sample):
    time.sleep(30 if sample.reference == "hang" else 0.0)
    return 1.0


def test_a_hung_reward_is_killed_and_counted_within_the_timeout():
    samples = [
        Sample(completion="a", reference="ok"),
        Sample(completion="b", reference="hang"),
        Sample(completion="c", reference="ok"),
    ]
    with RewardPool(sleepy, workers=2, timeout_s=1.0) as pool:
        start = time.monotonic()
        result = pool.score(samples)
        assert time.monotonic() - start < 1.0 + 2.0
        assert result.total.tolist() == [1.0, 0.0, 1.0]
        assert result.counts["sleepy/failures"] == 1
        assert "timed out after 1 s" in result.notes[1]
        assert result.metrics()["reward/sleepy/failures"] == 1.0
        # the killed worker was replaced: the pool keeps working
        assert pool.score(samples[:1]).total.tolist() == [1.0]


def test_a_hung_strict_reward_is_an_error_naming_reward_and_sample():
    with RewardPool(sleepy_strict, workers=1, timeout_s=0.5) as pool:
        with pytest.raises(
            RewardlabError,
            match=r"reward 'sleepy_strict' timed out after 0.5 s \(reward_timeout_s\) on sample 1",
        ):
            pool.score([Sample(completion="a", reference="ok"), Sample(completion="b", reference="hang")])


@reward(name="crashy", on_error="zero")
def crashy(sample):
    if sample.reference == "die":
        os._exit(3)
    return 0.5


def test_a_worker_that_dies_is_a_counted_failure_and_is_replaced():
    with RewardPool(crashy, workers=1) as pool:
        result = pool.score([Sample(completion="a", reference="x"), Sample(completion="b", reference="die")])
        assert result.total.tolist() == [0.5, 0.0]
        assert result.counts["crashy/failures"] == 1
        assert "worker died (exit code 3)" in result.notes[1]
        assert pool.score([Sample(completion="c", reference="x")]).total.tolist() == [0.5]


@reward(name="raises", on_error="zero")
def raises(sample):
    raise KeyError("boom")


def test_a_raising_reward_is_counted_by_the_reward_itself():
    with RewardPool(raises, workers=2) as pool:
        result = pool.score(_samples(3))
    assert result.counts["raises/errors"] == 3 and result.total.tolist() == [0.0] * 3


@reward(name="alarm")
def alarm(sample):
    # the verl bug: signal.alarm in a worker *thread* raised ValueError and every score became 0
    signal.signal(signal.SIGALRM, lambda *_: None)
    signal.alarm(5)
    signal.alarm(0)
    return 1.0


def test_signal_based_limits_work_because_rewards_run_in_a_main_thread():
    with RewardPool(alarm, workers=2) as pool:
        assert pool.score(_samples(4)).total.tolist() == [1.0] * 4


def test_bad_pool_settings_are_named():
    with pytest.raises(ConfigError, match="'reward_workers': 0 must be >= 1"):
        RewardPool(alarm, workers=0)
    with pytest.raises(ConfigError, match="'backend': 'dask' is not one of 'local', 'ray'"):
        RewardPool(alarm, workers=1, backend="dask")


@pytest.mark.ray
def test_ray_reward_tasks_equal_the_local_pool(ray_cluster):
    samples = _samples(9)
    with (
        RewardPool(_composite(), workers=2) as local,
        RewardPool(_composite(), workers=2, backend="ray", chunk_size=2) as remote,  # 5 chunks, 2 at a time
    ):
        a, b = local.score(samples), remote.score(samples)
    np.testing.assert_array_equal(a.total, b.total)
    assert a.notes == b.notes


@pytest.mark.ray
def test_ray_hung_reward_is_cancelled_and_counted(ray_cluster):
    with RewardPool(sleepy, workers=2, backend="ray", timeout_s=1.0) as pool:
        start = time.monotonic()
        result = pool.score(
            [Sample(completion="a", reference="hang"), Sample(completion="b", reference="ok")]
        )
        assert time.monotonic() - start < 1.0 + 2.0 + 3.0  # task start-up on a cold worker
    assert result.counts["sleepy/failures"] == 1 and result.total[1] == 1.0
