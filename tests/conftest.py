"""Shared test set-up: one torch thread (small MLPs are fastest on one; CI has 2 cores)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    torch.set_num_threads(1)
    yield
