"""VLAC-style progress critic: the value recursion and VOC by hand, and a critic that learns progress."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import get
from rewardlab.rewards.learned.progress_critic import (
    ProgressCritic,
    progress_pairs,
    straight_paths,
    value_from_deltas,
    value_order_correlation,
)


def test_value_recursion_and_voc_by_hand():
    # V1 = 0 + 1 * 0.5; V2 = 0.5 + 0.5 * 0.5 = 0.75; V3 = 0.75 + 0.25 * (-1) = 0.5
    assert value_from_deltas([0.5, 0.5, -1.0]).tolist() == [0.0, 0.5, 0.75, 0.5]
    assert value_from_deltas([1.0, 0.3]).tolist() == [0.0, 1.0, 1.0]  # done stays done
    assert value_order_correlation([0.0, 0.2, 0.9, 1.0]) == pytest.approx(1.0)
    assert value_order_correlation([1.0, 0.5, 0.1]) == pytest.approx(-1.0)
    # ranks 0, 2, 1, 3 against time 0..3: Spearman = 1 - 6 * (0 + 1 + 1 + 0) / (4 * 15) = 0.8
    assert value_order_correlation([0.0, 0.6, 0.5, 1.0]) == pytest.approx(0.8)
    assert np.isnan(value_order_correlation([0.3, 0.3]))


def test_critic_learns_progress_its_sign_and_no_progress_for_another_goal():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    train_paths, train_goals = straight_paths(rng, 200)
    test_paths, test_goals = straight_paths(rng, 50)
    critic = ProgressCritic(2, 2, seed=0, learning_rate=3e-3)
    metrics = critic.fit(progress_pairs(train_paths, train_goals, rng, 6000), steps=600)
    assert metrics["loss"] < 0.12
    o_i, o_j, goal, delta = progress_pairs(test_paths, test_goals, rng, 900)
    pred = critic.delta(o_i, o_j, goal)
    moving = delta != 0
    assert np.mean(np.sign(pred[moving]) == np.sign(delta[moving])) > 0.9  # towards or away, held out
    # another trajectory's goal: far less progress (0.19 here; the mismatched-goal test below gets it lower)
    assert np.mean(np.abs(pred[~moving])) < min(0.25, 0.5 * np.mean(np.abs(pred[moving])))
    vocs = [value_order_correlation(critic.values(p, g)) for p, g in zip(test_paths, test_goals)]
    assert np.median(vocs) > 0.9  # the values rebuilt from deltas rise with time
    assert (
        np.median(
            [value_order_correlation(critic.values(p[::-1], g)) for p, g in zip(test_paths, test_goals)]
        )
        < 0
    )
    with pytest.raises(RewardlabError, match=r"widths \[3, 2, 2\]; it was built for \[2, 2, 2\]"):
        critic.delta(np.zeros((1, 3)), np.zeros((1, 2)), np.zeros((1, 2)))


def test_pairs_label_forward_reversed_and_mismatched_shares():
    rng = np.random.default_rng(0)
    paths, goals = straight_paths(rng, 5)
    o_i, o_j, goal, delta = progress_pairs(paths, goals, rng, 100, mismatched=0.5)
    assert (delta == 0).sum() == 50 and (delta > 0).sum() == 25 and (delta < 0).sum() == 25
    # forward pairs point at their own goal: o_j is closer to it than o_i
    fwd = delta > 0
    assert (np.linalg.norm(goal[fwd] - o_j[fwd], axis=1) < np.linalg.norm(goal[fwd] - o_i[fwd], axis=1)).all()
    with pytest.raises(ConfigError, match=r"mismatched must be in \[0, 1\), got 1.0"):
        progress_pairs(paths, goals, rng, 10, mismatched=1.0)


@pytest.mark.slow
def test_antisymmetric_relative_critic_meets_the_mismatched_goal_target():
    """The research note's mismatched-goal target (mean |delta| < 0.1): the default recipe (a third
    mismatched, absolute inputs, 200 paths) leaves 0.19; half mismatched pairs from 2000 paths with
    relative inputs and an antisymmetric head gets under it (benchmarks/progress_point_goal.py: 0.082)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    test_paths, test_goals = straight_paths(np.random.default_rng(1), 100)
    o_i, o_j, goal, delta = progress_pairs(test_paths, test_goals, np.random.default_rng(2), 900)
    moving = delta != 0
    critic = ProgressCritic(2, 2, seed=0, learning_rate=3e-3, relative=True, antisymmetric=True)
    critic.fit(progress_pairs(*straight_paths(rng, 2000), rng, 30000, mismatched=0.5), steps=2000)
    pred = critic.delta(o_i, o_j, goal)
    assert np.mean(np.sign(pred[moving]) == np.sign(delta[moving])) > 0.95
    assert np.mean(np.abs(pred[~moving])) < 0.1
    # antisymmetric by construction: the reversed pair is exactly the negative
    assert critic.delta(o_j, o_i, goal) == pytest.approx(-pred, abs=1e-6)


def test_progress_reward_reads_position_and_goal_from_the_observation(tmp_path):
    critic = ProgressCritic(2, 2, seed=0, relative=True, antisymmetric=True)
    path = critic.save(tmp_path / "critic.pt")
    env = gym.make("point-goal", random_goal=True)
    reward = get("progress", observation_space=env.observation_space, action_space=env.action_space,
                 path=str(path), scale=2.0)  # fmt: skip
    obs = np.random.default_rng(0).uniform(0, 1, (3, 6)).astype(np.float32)
    next_obs = obs + 0.01
    by_hand = 2.0 * critic.delta(obs[:, :2], next_obs[:, :2], obs[:, 4:6])
    assert reward(obs, np.zeros((3, 2)), next_obs, np.zeros(3)) == pytest.approx(by_hand)
    with pytest.raises(
        ConfigError, match=r"goal_slice \[4, 7\] .* give widths \[2, 3\]; the critic .* takes"
    ):
        get("progress", observation_space=gym.spaces.Box(0, 1, (7,)), action_space=env.action_space,
            path=str(path), goal_slice=(4, 7))  # fmt: skip
    with pytest.raises(ConfigError, match="is not a file written by ProgressCritic.save"):
        get(
            "progress", observation_space=env.observation_space, action_space=env.action_space, path="nope.pt"
        )
    with pytest.raises(ConfigError, match=r"same width; got observation 3 and goal 2"):
        ProgressCritic(3, 2, relative=True)
