"""Agents tests: one torch thread; the llm extra (transformers) is required."""

import pytest
import torch

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)
