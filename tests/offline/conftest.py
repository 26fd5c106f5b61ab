"""Shared offline-RL fixtures: hand-written experts (no training needed) and a private Minari root."""

import pytest

from rewardlab.offline.experts import cartpole_balance, pendulum_swing_up

pendulum_expert = pendulum_swing_up
cartpole_expert = cartpole_balance


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    root = tmp_path / "minari"
    root.mkdir()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root
