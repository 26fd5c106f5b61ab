"""The environments of the learned-reward experiments: sparse-grid, fixed-horizon CartPole, tomato, point-goal."""

from collections import deque

import gymnasium as gym
import numpy as np
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


def test_point_goal_double_integrator_walls_goal_disc_and_horizon():
    env = gym.make("point-goal", horizon=60)
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == pytest.approx([0.1, 0.1, 0, 0, 0.9, 0.9])
    obs, r, term, *_ = env.step(np.array([1.0, -1.0]))
    # v = 0.01 * a, then x += v; the velocity is observed in units of max_speed (0.05)
    assert obs[:4].tolist() == pytest.approx([0.11, 0.09, 0.2, -0.2]) and r == 0 and not term
    for _ in range(20):  # accelerate down into the wall y = 0: that axis stops, the other keeps going
        obs, *_ = env.step(np.array([0.0, -1.0]))
    assert obs[1] == 0.0 and obs[3] == 0.0 and obs[2] == pytest.approx(0.2)
    env.reset(seed=0)
    for t in range(60):  # full throttle along the diagonal reaches the disc around (0.9, 0.9)
        obs, r, term, trunc, info = env.step(np.array([1.0, 1.0]) if t < 20 else np.zeros(2))
        if term or trunc:
            break
    assert (r, term, info["is_success"]) == (1.0, True, True) and np.linalg.norm(obs[:2] - 0.9) <= 0.05
    env = gym.make("point-goal", random_goal=True)
    starts_goals = [env.reset(seed=s)[0][[0, 1, 4, 5]] for s in range(20)]
    assert all(np.linalg.norm(o[:2] - o[2:]) >= 0.5 for o in starts_goals)
    assert len({tuple(o.round(4)) for o in starts_goals}) == 20
    with pytest.raises(ConfigError, match="goal_radius must be > 0, got 0"):
        gym.make("point-goal", goal_radius=0)
