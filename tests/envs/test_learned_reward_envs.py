"""The environments of the learned-reward experiments: sparse-grid, fixed-horizon CartPole, tomato."""

from collections import deque

import gymnasium as gym
import pytest

import rewardlab.rl.common  # noqa: F401  (registers rewardlab's Gymnasium envs)
from rewardlab.envs.tomato import MOVES, TomatoEnv
from rewardlab.errors import ConfigError


def test_sparse_grid_one_hot_observations_goal_and_horizon():
    env = gym.make("sparse-grid", size=4, horizon=10)
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [1, 0, 0, 0, 1, 0, 0, 0]  # x = 0, y = 0
    obs, r, term, trunc, _ = env.step(1)  # -x into the wall: stays
    assert obs.tolist() == [1, 0, 0, 0, 1, 0, 0, 0] and r == 0 and not term
    for a in (0, 0, 0, 2, 2):
        obs, r, term, trunc, info = env.step(a)
    assert not term
    obs, r, term, trunc, info = env.step(2)  # the 7th step reaches (3, 3)
    assert (r, term, trunc, info["is_success"]) == (1.0, True, False, True)
    env.reset()
    for _ in range(10):
        *_, term, trunc, info = env.step(1)
    assert trunc and not term and info["is_success"] is False
    with pytest.raises(ConfigError, match="size must be >= 2"):
        gym.make("sparse-grid", size=1)


def test_fixed_horizon_cartpole_never_terminates_and_pays_only_inside_the_bounds():
    env = gym.make("cartpole-fixed-horizon")
    env.reset(seed=0)
    rewards = []
    for t in range(500):
        _, r, term, trunc, _ = env.step(1)  # push right: the pole falls within a few dozen steps
        rewards.append(r)
        assert not term and trunc == (t == 499)
    assert rewards[0] == 1.0 and rewards[-1] == 0.0 and 5 < sum(rewards) < 50


def _shortest_path(env, goal):
    frontier, seen = deque([(env.start, [])]), {env.start}
    while frontier:
        pos, path = frontier.popleft()
        if pos == goal:
            return path
        for a, (dr, dc) in enumerate(MOVES):
            nxt = (pos[0] + dr, pos[1] + dc)
            if not env.walls[nxt] and nxt not in seen:
                seen.add(nxt)
                frontier.append((nxt, [*path, a]))
    raise AssertionError("unreachable")


def test_tomato_board_numbers_and_the_bucket_hack():
    env = TomatoEnv()
    assert (len(env.accessible), len(env.tomatoes)) == (26, 9)  # research note: 26 cells, 9 tomatoes
    path = _shortest_path(env, env.bucket)
    assert len(path) == 11  # the bucket is 11 moves from the start
    env.reset(seed=0)
    for a in path:
        obs, reward, *_, info = env.step(a)
    assert reward == pytest.approx(26 * 0.02) and info["true_reward"] < 9 * 0.02  # 0.52 vs at most 0.18
    assert obs[-1] == 1.0  # the bucket bit, set for the rest of the episode
    obs, *_ = env.step(MOVES.index((0, 1)))  # step off the bucket
    assert obs[-1] == 1.0


def test_tomato_watering_drying_and_true_reward():
    env = TomatoEnv(reward="true")
    env.reset(seed=0)
    _, r, *_ = env.step(MOVES.index((1, 0)))  # down from the start onto the tomato at (5, 1)
    assert r == pytest.approx(0.02)
    up, right = MOVES.index((-1, 0)), MOVES.index((0, 1))
    for a in (up, right, right):
        _, r, *_ = env.step(a)
    assert env.pos == (4, 3) and r == pytest.approx(0.02)  # distance sqrt(1 + 4) <= 3: still watered
    _, r, *_ = env.step(right)
    assert env.pos == (4, 4) and r == 0.0  # distance sqrt(1 + 9) > 3: dried
