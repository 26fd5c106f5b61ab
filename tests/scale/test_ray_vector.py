"""vectorization = "ray" equals "sync" bit for bit (the sub-envs run in Ray actors, everything that

decides an action stays on the driver), and bad plans are refused before anything hangs."""

import sys

import numpy as np
import pytest
from _resume import without_timing

from rewardlab.core import ray_backend
from rewardlab.errors import ConfigError
from rewardlab.rl.common import make_vec_env
from rewardlab.rl.ppo import PPO, PPOConfig

pytestmark = pytest.mark.ray


def _assert_infos_equal(a, b, path="info"):
    assert a.keys() == b.keys(), path
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, dict):
            _assert_infos_equal(x, y, f"{path}.{key}")
        elif isinstance(x, np.ndarray) and x.dtype == object:
            assert all((u is None and v is None) or np.array_equal(u, v) for u, v in zip(x, y)), (
                f"{path}.{key}"
            )
        else:
            assert np.array_equal(x, y), f"{path}.{key}"


@pytest.mark.parametrize("env_id", ["Pendulum-v1", "CartPole-v1"])
def test_ray_vector_env_equals_sync_step_for_step(ray_cluster, env_id):
    sync = make_vec_env(env_id, 4, "sync")
    remote = make_vec_env(env_id, 4, "ray", num_workers=2)
    try:
        obs_a, info_a = sync.reset(seed=7)
        obs_b, info_b = remote.reset(seed=7)
        assert np.array_equal(obs_a, obs_b)
        rng = np.random.default_rng(0)
        space = sync.action_space
        ended = 0
        for _ in range(260):  # CartPole episodes end within this many random steps: autoreset is exercised
            if env_id == "CartPole-v1":
                actions = rng.integers(0, 2, size=4)
            else:
                actions = rng.uniform(space.low, space.high).astype(np.float32)
            a, b = sync.step(actions), remote.step(actions)
            for x, y in zip(a[:4], b[:4]):
                assert np.array_equal(x, y)
            _assert_infos_equal(a[4], b[4])
            ended += int(np.sum(a[2] | a[3]))
        assert ended > 0
        # snapshots go through VectorEnv.call, as PPO's checkpoints do
        assert len(remote.call("get_snapshot")) == 4
    finally:
        sync.close()
        remote.close()


def _ppo_metrics(vectorization: str, iterations: int = 3) -> list[dict]:
    config = PPOConfig(
        env="CartPole-v1", num_envs=4, n_steps=32, batch_size=64, vectorization=vectorization, num_workers=2
    )
    algo = PPO(config)
    try:
        return [*without_timing([algo.step() for _ in range(iterations)]), algo.evaluate(2)]
    finally:
        algo.close()


def test_ppo_with_ray_env_workers_equals_sync(ray_cluster):
    assert _ppo_metrics("ray") == _ppo_metrics("sync")
    assert ray_backend._users == 0  # every actor released


def test_resource_plan_that_cannot_be_scheduled_is_refused_before_it_hangs(ray_cluster):
    with pytest.raises(ConfigError, match=r"needs 8 logical CPUs .* has 4"):
        make_vec_env("CartPole-v1", 8, "ray", num_workers=8, ray_options={"worker_num_cpus": 1.0})
    assert ray_backend._users == 0


def test_num_workers_must_divide_num_envs():
    with pytest.raises(
        ConfigError,
        match=r"'num_workers': 3 must be >= 1 and divide num_envs \(4\); valid values: \[1, 2, 4\]",
    ):
        make_vec_env("CartPole-v1", 4, "ray", num_workers=3)


def test_missing_ray_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(
        ConfigError, match=r"2 Ray env workers needs Ray, which is not installed\. .*rewardlab\[ray\]"
    ):
        make_vec_env("CartPole-v1", 4, "ray", num_workers=2)


def test_unknown_vectorization_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="'sync', 'async', 'ray'"):
        make_vec_env("CartPole-v1", 2, "threads")
