"""GRPO with its reward scored in a pool of worker processes writes exactly the metrics of GRPO
scoring in the trainer (the pool changes where rewards run, never what they are)."""

from _resume import without_timing
from conftest import CopyDigit, tiny_policy

from rewardlab.llm.grpo import GRPO, GRPOConfig

TOY = dict(
    env="", num_threads=1, batch_size=4, num_generations=4, max_completion_length=2, max_prompt_length=8
)


def _metrics(reward_workers: int) -> list[dict]:
    cfg = GRPOConfig(**TOY, learning_rate=1e-3, reward_workers=reward_workers)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=CopyDigit(seed=0))
    try:
        return without_timing([algo.step() for _ in range(2)])
    finally:
        algo.close()


def test_grpo_with_a_reward_pool_equals_grpo_scoring_in_the_trainer():
    pooled = _metrics(2)
    assert pooled == _metrics(0)
    assert "reward/copy/failures" not in pooled[0]  # no failures: the counter is only logged when non-zero
