"""The tiny-Llama GRPO on the two-turn `lookup` env that the thought-cloning tests (warm start and
during RL) train: one token per turn, positional protocol (no lookup bonus: the joint success is
1 in ~256 by chance), the Llama's vocabulary the env's characters."""

import torch

from rewardlab.llm.grpo import GRPO, GRPOConfig
from rewardlab.llm.policy import Policy
from rewardlab.llm.tiny import tiny_llama


def lookup_grpo(agent: dict, **settings) -> GRPO:
    """GRPO with these ``[agent]`` settings (``max_turn_tokens`` 1 unless given) and config overrides."""
    cfg = GRPOConfig(
        env="lookup",
        task_params={"protocol": "positional"},
        num_threads=1,
        batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_prompt_length=8,
        micro_batch_size=64,
        lora_r=0,
        agent={"max_turn_tokens": 1, **agent},
        **settings,
    )
    torch.manual_seed(0)
    model, tok = tiny_llama("0123456789kv\n", seed=0)
    return GRPO(cfg, policy=Policy(model, tok, cfg))
