"""Cost of a 2-turn episode of N sampled tokens against a 1-turn episode of N tokens (issue 10's
throughput target: <= 1.3x). A random 4-layer Llama with EOS disabled, so every turn runs to its
budget; 8 problems x 8 episodes, all active episodes generated in one batched call per turn.

    PYTHONPATH=src python benchmarks/agents_turn_throughput.py

Measured 2026-12-01 on the loaded 2-core dev machine (niced, 1 thread), alternating runs:
1 turn 18.9 s / 11.1 s, 2 turns 13.5 s / 5.3 s of time/generate -- within the target, but the
machine's load dominates the spread.
"""

import time

import torch

from rewardlab.agents.env import AgentTask, ChatEnv
from rewardlab.agents.rollout import AgentConfig, AgentLoop
from rewardlab.llm.policy import Policy, PolicyConfig
from rewardlab.llm.tiny import tiny_llama
from rewardlab.tasks.base import Example

torch.set_num_threads(1)


class TwoTurn(ChatEnv):
    name = "two"
    max_turns = 2

    def problems(self, split, seed):
        return [Example(prompt=None, info={"i": i}) for i in range(8)]

    def reset(self, *, seed, task=None):
        return [{"role": "user", "content": "go"}], {}

    def step(self, action):
        self.n = getattr(self, "n", 0) + 1
        return (
            ([{"role": "tool", "content": "ok"}], 0.0, False, False, {})
            if self.n == 1
            else ([], 0.0, True, False, {})
        )

    def default_reward(self):
        from rewardlab.agents.rewards import EnvReturn

        return EnvReturn()


N = 128
model, tok = tiny_llama(seed=0, hidden_size=128, num_layers=4)
for turns in (1, 2, 1, 2):
    pol = Policy(model, tok, PolicyConfig(lora_r=0, num_threads=1))
    pol.eos_token_id = None  # every turn runs to its token budget, so both cases sample N tokens
    task = AgentTask(TwoTurn)
    TwoTurn.max_turns = turns
    cfg = AgentConfig(max_turn_tokens=N // turns, max_episode_tokens=N + 8, max_turns=turns)
    loop = AgentLoop(pol, task, task.reward(), cfg, max_completion_length=N + 8)
    m = {}
    t = time.perf_counter()
    eps = loop.run(task.examples("train"), num_generations=8, seeds=list(range(8)), metrics=m)
    sampled = sum(len(e.trajectory.sampled_ids) for e in eps)
    print(
        turns,
        "turn(s):",
        f"time/generate {m['time/generate']:.2f}s",
        "sampled tokens",
        sampled,
        "env tokens",
        sum(e.trajectory.env_tokens for e in eps),
    )
