"""Tiny models and a toy verifiable task, built in-process (no download)."""

import pytest
import torch

from rewardlab.rewards.base import reward as make_reward
from rewardlab.tasks.base import Example, Task

DIGITS = "0123456789"


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


class CopyDigit(Task):
    """Prompt ``"d="``; the answer is the completion's first character, correct when it is ``d``.
    A random model writes the right digit about 1 time in (vocabulary size) — chance."""

    name = "copy_digit"

    def build(self, split):
        return [Example(prompt=f"{d}=", reference=d) for d in DIGITS]

    def default_reward(self):
        @make_reward(name="copy")
        def copy(sample):
            return 1.0 if sample.completion[:1] == sample.reference else 0.0

        return copy


@pytest.fixture
def copy_task():
    return CopyDigit(seed=0)


def tiny_policy(cfg, chars=DIGITS + "=", seed=0, **kwargs):
    from rewardlab.llm.policy import Policy
    from rewardlab.llm.tiny import tiny_llama

    model, tok = tiny_llama(chars, seed=seed, **kwargs)
    return Policy(model, tok, cfg)
