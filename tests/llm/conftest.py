"""Tiny models and a toy verifiable task, built in-process (no download).

``DIGITS``, ``CopyDigit`` and ``tiny_policy`` live in src (the benchmarks build the same ones); the
test modules import them from here.
"""

import pytest
import torch

from rewardlab.llm.tiny import DIGITS, tiny_policy
from rewardlab.tasks.digits import CopyDigit

__all__ = ["DIGITS", "CopyDigit", "tiny_policy"]


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def copy_task():
    return CopyDigit(seed=0)
