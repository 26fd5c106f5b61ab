"""SUMO traffic-signal envs: seeded, deterministic, the fixed-time baseline ignores actions, and the
Ray env actors reproduce the sync vector env on a real simulator."""

import numpy as np
import pytest

pytest.importorskip("sumo", reason="the sumo extra is not installed (pip install 'rewardlab[sumo]')")

from rewardlab.envs.sumo import TrafficGridEnv, TrafficSignalEnv  # noqa: E402
from rewardlab.errors import ConfigError  # noqa: E402


def _rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append(np.append(obs, [reward, info["system_mean_waiting_time"]]))
    return np.stack([np.resize(o, out[-1].shape) for o in out])


def test_traffic_signal_env_is_a_pure_function_of_the_seed():
    env = TrafficSignalEnv(num_seconds=300)
    try:
        actions = [i % 2 for i in range(40)]
        a, b = _rollout(env, 3, actions), _rollout(env, 3, actions)
        assert np.array_equal(a, b)
        assert not np.array_equal(a, _rollout(env, 4, actions))  # another seed, other traffic
        assert env.observation_space.contains(env.reset(seed=0)[0])
    finally:
        env.close()


def test_fixed_time_baseline_ignores_the_actions():
    env = TrafficSignalEnv(num_seconds=200, fixed_time=True)
    try:
        assert np.array_equal(_rollout(env, 1, [0] * 30), _rollout(env, 1, [1] * 30))
    finally:
        env.close()


def test_unknown_network_is_named():
    with pytest.raises(
        ConfigError, match=r"'network': 'grid9' is not one of \['2x2grid', 'single-intersection'\]"
    ):
        TrafficSignalEnv(network="grid9")


def test_grid_is_a_pettingzoo_parallel_env_with_one_agent_per_signal():
    env = TrafficGridEnv(num_seconds=100)
    try:
        obs, infos = env.reset(seed=0)
        assert sorted(obs) == sorted(env.possible_agents) and len(env.possible_agents) == 4
        obs, rewards, terminations, truncations, infos = env.step({a: 0 for a in env.agents})
        assert set(rewards) == set(env.possible_agents)
    finally:
        env.close()


@pytest.mark.ray
def test_ray_env_actors_equal_sync_on_sumo(ray_cluster):
    from rewardlab.rl.common import make_vec_env

    kwargs = {"num_seconds": 60}
    sync = make_vec_env("sumo-single-intersection", 2, "sync", kwargs)
    remote = make_vec_env("sumo-single-intersection", 2, "ray", kwargs, num_workers=2)
    try:
        obs_a, _ = sync.reset(seed=0)
        obs_b, _ = remote.reset(seed=0)
        assert np.array_equal(obs_a, obs_b)
        for t in range(16):  # 60 s / 5 s per action: crosses an episode end (autoreset)
            actions = np.array([t % 2, (t // 3) % 2])
            a, b = sync.step(actions), remote.step(actions)
            for x, y in zip(a[:4], b[:4]):
                assert np.array_equal(x, y)
            assert np.array_equal(a[4]["system_mean_waiting_time"], b[4]["system_mean_waiting_time"])
    finally:
        sync.close()
        remote.close()


def test_grid_passes_pettingzoo_parallel_api_test():
    from pettingzoo.test import parallel_api_test

    env = TrafficGridEnv(num_seconds=60)
    try:
        parallel_api_test(env, num_cycles=20)
    finally:
        env.close()
