"""KV-cache reuse across turns: the same samples and log-probs as re-encoding every turn."""

import pytest
import torch

from rewardlab.agents.env import AgentTask, ChatEnv, StepResult
from rewardlab.agents.rollout import AgentConfig, AgentLoop
from rewardlab.llm.policy import Policy, PolicyConfig
from rewardlab.llm.tiny import tiny_llama
from rewardlab.tasks.base import Example


class Ragged(ChatEnv):
    """Episodes end at different turns (an answer containing 7 ends one) and observations differ in
    length, so the cache has rows dropped and deltas padded between turns."""

    name = "ragged"
    max_turns = 4

    def problems(self, split, seed):
        return [Example(prompt=None, reference=str(i), info={"n": i}) for i in range(4)]

    def reset(self, *, seed, task=None):
        self.n = task.info["n"]
        return [{"role": "user", "content": "k" * (1 + self.n)}], {}

    def step(self, action):
        if "7" in action.text:
            return StepResult([], 1.0, True, False, {})
        return StepResult(
            [{"role": "user", "content": "v" * (1 + len(action.text) % 5)}], 0.0, False, False, {}
        )


def _episodes(kv_cache, greedy=False):
    torch.manual_seed(0)
    model, tok = tiny_llama("0123456789kv\n", seed=0)
    policy = Policy(model, tok, PolicyConfig(max_prompt_length=64))
    task = AgentTask(Ragged)
    loop = AgentLoop(
        policy,
        task,
        task.reward(),
        AgentConfig(max_turn_tokens=5, kv_cache=kv_cache),
        max_completion_length=80,
    )
    torch.manual_seed(1)
    return loop.run(task.examples("train"), num_generations=3, seeds=[0, 1, 2, 3], greedy=greedy)


def test_reusing_the_cache_across_turns_changes_no_sample_and_no_logprob():
    fresh, reused = _episodes(False), _episodes(True)
    turns = [len(ep.turns) for ep in fresh]
    assert len(set(turns)) > 1  # episodes end at different turns: cache rows get dropped
    for a, b in zip(fresh, reused):
        assert b.trajectory.ids == a.trajectory.ids and b.trajectory.loss_mask == a.trajectory.loss_mask
        assert [t.text for t in b.turns] == [t.text for t in a.turns]
        assert b.trajectory.logprobs == pytest.approx(a.trajectory.logprobs, abs=1e-5)
    assert max(turns) >= 3  # a third turn continues a cache that was already continued once
