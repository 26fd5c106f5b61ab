"""SRPO's self-referential reward inside a GRPO loop on a sparse reach task (seeds_table row 20).

The paper's claim (fewer iterations to 90 % success than binary GRPO) did not reproduce clearly at
this scale (docs/lm_optimisers_group.md has the numbers; benchmarks/srpo_reach.py measures it).
What is tested here is the mechanism: from the group's own successes alone, with no hand-written
progress measure, SRPO ranks the failures by how close they came to the goal, where the binary
reward cannot tell them apart; and GRPO under it learns the task."""

import numpy as np
import pytest
import torch
from conftest import tiny_policy

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


def test_grpo_on_a_language_model_hands_a_group_reward_each_prompts_completions(copy_task):
    """The LM trainer (llm/online.py) sets Sample.group: a GroupReward sees the G completions of one
    prompt together, and each group once."""
    pytest.importorskip("transformers", reason="the llm extra is not installed")

    from rewardlab.llm.grpo import GRPO, GRPOConfig
    from rewardlab.rewards.base import GroupReward

    seen = []

    class RankInGroup(GroupReward):
        name = "rank_in_group"

        def compute_group(self, members):
            seen.append([(m.group, m.prompt) for m in members])
            return [i / len(members) for i in range(len(members))]

    cfg = GRPOConfig(env="", num_threads=1, batch_size=3, num_generations=4, max_completion_length=2,
                     max_prompt_length=8, lora_r=0, total_steps=1)  # fmt: skip
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task, reward=RankInGroup())
    metrics = algo.step()
    assert [len(g) for g in seen] == [4, 4, 4]
    assert [{grp for grp, _ in g} for g in seen] == [{0}, {1}, {2}]
    assert all(len({p for _, p in g}) == 1 for g in seen)
    assert metrics["reward"] == pytest.approx(np.mean([0, 0.25, 0.5, 0.75]))
