"""Darkroom: the dynamics by hand, and learning histories that improve from random to near optimal."""

import numpy as np
import pytest

from rewardlab.errors import ConfigError
from rewardlab.offline.darkroom import Darkroom, goal_split, learning_history, optimal_return


def test_darkroom_moves_clips_and_pays_on_the_goal():
    env = Darkroom(size=3, goal=(1, 0), horizon=3)
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [0, 0]
    obs, r, term, trunc, _ = env.step(1)  # -x at the wall: stays
    assert obs.tolist() == [0, 0] and r == 0 and not trunc
    obs, r, *_ = env.step(0)  # +x onto the goal
    assert obs.tolist() == [1, 0] and r == 1
    obs, r, term, trunc, _ = env.step(4)  # stay: paid again, and the horizon ends the episode
    assert r == 1 and trunc and not term
    assert optimal_return(3, (1, 0), 3) == 3 and optimal_return(5, (4, 4), 25) == 18
    with pytest.raises(ConfigError, match="outside"):
        Darkroom(size=3, goal=(3, 0))


def test_learning_history_improves_from_random_to_near_optimal():
    data = learning_history(5, (3, 4), episodes=120, horizon=25, seed=0)
    returns = data.episode_returns()
    assert data.num_episodes == 120 and data.truncations.sum() == 120
    best = optimal_return(5, (3, 4), 25)
    assert returns[:10].mean() < 0.3 * best
    assert returns[-10:].mean() > 0.7 * best, returns[-10:]


def test_goal_split_holds_out_goals():
    train, held = goal_split(5)
    assert len(train) == 19 and len(held) == 5 and not set(train) & set(held)
    assert (0, 0) not in train + held
    assert np.all([0 <= g[0] < 5 and 0 <= g[1] < 5 for g in train + held])
