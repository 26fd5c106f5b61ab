"""Policies that learn: short training runs with the shipped example configs (marked slow; CI runs them)."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rewardlab.core.run import Run, new_config
from rewardlab.rl.common import evaluate_policy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _train(algo, example, tmp_path, sets=(), seed=0):
    config = new_config(algo, files=[EXAMPLES / example], sets=list(sets), cli={"seed": seed})
    return Run.start(algo, config, tmp_path / "run").train(progress=False)


@pytest.mark.slow
def test_ppo_solves_cartpole(tmp_path):
    # rl-zoo3 hyper-parameters, 100k steps (about 20 s here); rl-zoo3 reports 500 +- 0
    result = _train("ppo", "ppo_cartpole.toml", tmp_path)
    assert result["mean_return"] >= 400


@pytest.mark.slow
def test_dqn_solves_cartpole(tmp_path):
    result = _train("dqn", "dqn_cartpole.toml", tmp_path)
    assert result["mean_return"] >= 400


@pytest.mark.slow
def test_ppo_continuous_pendulum_beats_random_policy(tmp_path):
    space = gym.make("Pendulum-v1").action_space
    rng = np.random.default_rng(0)
    random_policy = evaluate_policy(
        "Pendulum-v1", lambda obs: rng.uniform(space.low, space.high, size=(len(obs), *space.shape)), 10, seed=10_000
    )
    result = _train("ppo", "ppo_pendulum.toml", tmp_path, sets=["total_steps=40000"])
    assert random_policy["mean_return"] < -900  # swinging at random stays far from upright
    assert result["mean_return"] > random_policy["mean_return"] + 600
    assert result["mean_return"] > -400
