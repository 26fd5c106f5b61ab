"""The multi-UAV offloading ParallelEnv: PettingZoo API, association rule, reward."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from rewardlab.envs.uav_offloading import UAVOffloadingEnv, associate, fspl_db
from rewardlab.errors import ConfigError


def test_passes_pettingzoo_parallel_api_test():
    parallel_api_test(UAVOffloadingEnv(), num_cycles=100)
    parallel_api_test(UAVOffloadingEnv(grid_size=6, n_uavs=2, n_users=10, max_speed=2, uav_capacity=3,
                                       start="random"), num_cycles=100)


def test_free_space_path_loss_value():
    # 100 m at 2 GHz: 40 + 186.02 - 147.55 dB
    assert fspl_db(np.array(100.0), 2e9) == pytest.approx(78.47, abs=0.01)


def test_association_max_snr_threshold_and_bs():
    uav = np.array([[20.0, 10.0, 30.0, 16.0],
                    [25.0, 18.0, 5.0, 14.0]])
    bs = np.array([0.0, 0.0, 40.0, 0.0])
    # user 0 -> UAV 1 (stronger); user 1 -> UAV 1 (only one above 15 dB); user 2 -> BS; user 3 -> UAV 0
    assert associate(uav, bs, 15.0, 0).tolist() == [1, 1, -1, 0]
    # capacity 1: UAV 1 keeps its best user (user 0); user 1 has no other qualifying UAV
    assert associate(uav, bs, 15.0, 1).tolist() == [1, -1, -1, 0]


def test_reward_is_the_shared_number_of_uav_users():
    env = UAVOffloadingEnv(layout_seed=3)
    obs, infos = env.reset(seed=0)
    obs, rewards, terms, truncs, infos = env.step({a: 0 for a in env.agents})
    expected = env.associated_users()
    assert set(rewards.values()) == {float(expected)}
    assert sum(i["served_by_me"] for i in infos.values()) == expected


def test_moves_are_clipped_and_observations_are_cells():
    env = UAVOffloadingEnv(grid_size=5, n_uavs=1, n_users=3, max_speed=2, start="bs")
    env.reset(seed=0)
    assert env.positions.tolist() == [[2, 2]]
    for _ in range(3):  # action 5 = north by 2
        obs, *_ = env.step({"uav_0": 5})
    assert env.positions.tolist() == [[2, 4]] and obs["uav_0"] == 2 * 5 + 4


def test_episode_truncates_and_agents_empty():
    env = UAVOffloadingEnv(episode_length=3)
    env.reset(seed=0)
    for _ in range(3):
        _, _, _, truncs, _ = env.step({a: 0 for a in env.agents})
    assert all(truncs.values()) and env.agents == []
    with pytest.raises(ConfigError, match="finished episode"):
        env.step({"uav_0": 0})


def test_bad_parameters_name_the_value():
    with pytest.raises(ConfigError, match="max_speed must be in \\[1, grid_size - 1 = 4\\], got 5"):
        UAVOffloadingEnv(grid_size=5, max_speed=5)
    with pytest.raises(ConfigError, match="'teleport'"):
        UAVOffloadingEnv(start="teleport")
