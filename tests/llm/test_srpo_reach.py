"""SRPO's self-referential reward inside a GRPO loop on a sparse reach task (seeds_table row 20).

The paper's claim (fewer iterations to 90 % success than binary GRPO) did not reproduce clearly at
this scale (docs/lm_optimisers_group.md has the numbers; benchmarks/srpo_reach.py measures it).
What is tested here is the mechanism: from the group's own successes alone, with no hand-written
progress measure, SRPO ranks the failures by how close they came to the goal, where the binary
reward cannot tell them apart; and GRPO under it learns the task."""

import numpy as np
import torch

from rewardlab.llm.grpo_control import reach_policy, reach_rollouts, train_reach
from rewardlab.rewards import reward
from rewardlab.rewards.srpo import SelfReferentialReward


def test_srpo_ranks_failures_by_progress_where_the_binary_reward_cannot():
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        samples, _, _ = reach_rollouts(reach_policy(5, gen), 5, 12, 64, 8, gen)  # a near-uniform policy
    success = np.array([s.info["success"] for s in samples])
    groups = np.array([s.group for s in samples])
    mixed = np.isin(groups, np.unique(groups[success])) & ~success  # failures that have a success to refer to
    assert mixed.sum() >= 30
    distance = np.array([s.info["goal_distance"] for s in samples])[mixed]
    shaped = SelfReferentialReward()(samples)[mixed]
    binary = reward(lambda s: float(s.info["success"]), name="binary")(samples)[mixed]
    assert np.corrcoef(shaped, -distance)[0, 1] > 0.5  # closer to the goal, higher reward
    assert shaped[distance <= 2].mean() > shaped[distance >= 5].mean() + 0.2
    assert np.ptp(binary) == 0.0  # control: every failure scores 0


def test_grpo_with_the_srpo_reward_learns_the_sparse_reach_task():
    torch.set_num_threads(1)
    result = train_reach(SelfReferentialReward(), seed=0, max_iterations=60)
    assert result.success_rate[0] < 0.1  # sparse: the start policy almost never reaches the goal
    assert result.iterations_to_target is not None  # measured: 15 iterations (binary GRPO: 15)
