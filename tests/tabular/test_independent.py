"""Independent tabular learners on the multi-UAV offloading env."""

import copy

import numpy as np
import pytest

from rewardlab.config import build_config
from rewardlab.errors import UnknownNameError
from rewardlab.tabular.independent import (
    IndependentConfig,
    IndependentQLearning,
    IndependentSarsa,
    RandomAgents,
)


def _config(*sets):
    return build_config(IndependentConfig, sets=["total_steps=2000", *sets])


def test_resume_is_bit_identical():
    straight = IndependentSarsa(_config())
    reference = [straight.step() for _ in range(3)]
    first = IndependentSarsa(_config())
    head = [first.step()]
    first.evaluate(2)  # evaluating must not shift the training streams
    resumed = IndependentSarsa(_config())
    resumed.load_state_dict(copy.deepcopy(first.state_dict()))
    assert head + [resumed.step(), resumed.step()] == reference
    for agent in straight.q:
        np.testing.assert_array_equal(resumed.q[agent], straight.q[agent])


def test_unknown_env_is_an_error():
    with pytest.raises(UnknownNameError, match="'uav-offload'.*Did you mean: uav-offloading"):
        IndependentSarsa(_config("env=uav-offload"))


def test_random_agents_do_not_learn():
    algo = RandomAgents(_config("total_steps=500"))
    algo.step()
    assert all(not q.any() for q in algo.q.values())


def _learned_users(cls, steps, seed=0):
    algo = cls(_config(f"total_steps={steps}", f"seed={seed}"))
    while algo.global_step < steps:
        algo.step()
    return algo.evaluate(3)["associated_users_mean"]


@pytest.mark.slow
def test_distributed_sarsa_beats_random_and_is_not_worse_than_qlearning():
    sarsa = np.mean([_learned_users(IndependentSarsa, 30_000, s) for s in range(2)])
    qlearning = np.mean([_learned_users(IndependentQLearning, 30_000, s) for s in range(2)])
    rand = np.mean([_learned_users(RandomAgents, 2_000, s) for s in range(2)])
    assert sarsa > rand + 5, (sarsa, rand)
    assert qlearning > rand, (qlearning, rand)
