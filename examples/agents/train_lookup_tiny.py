"""Train the tiny random Llama on the 2-turn `lookup` env with GRPO (about a minute on one core).

    python examples/agents/train_lookup_tiny.py

The same setup as the CI test tests/agents/test_agents_grpo.py: a 13-character vocabulary, one
token per turn, the `positional` protocol (turn 1 = the key, turn 2 = the answer) and the
per-turn lookup bonus (ours), without which the joint 1-in-256 success is too sparse to learn from.
"""

import torch

from rewardlab.llm.grpo import GRPO, GRPOConfig
from rewardlab.llm.policy import Policy
from rewardlab.llm.tiny import tiny_llama

torch.set_num_threads(1)
cfg = GRPOConfig(
    env="lookup",
    task_params={"protocol": "positional", "lookup_bonus": 0.5},
    agent={"max_turn_tokens": 1},
    num_threads=1,
    batch_size=8,
    num_generations=8,
    max_completion_length=8,
    max_prompt_length=8,
    micro_batch_size=64,
    lora_r=0,
    learning_rate=2e-3,
    lr_scheduler="constant",
    total_steps=300,
)
model, tokenizer = tiny_llama("0123456789kv\n", seed=0)
algo = GRPO(cfg, policy=Policy(model, tokenizer, cfg))
for step in range(1, 301):
    metrics = algo.step()
    if step % 20 == 0:
        success = algo.evaluate(50)["success_rate"]
        print(f"step {step}: reward {metrics['reward']:.2f}, held-out success {success:.2f}")
        if success >= 0.9:
            break
episode = algo.agent_loop.last_episodes[0]
print(episode.transcript())
