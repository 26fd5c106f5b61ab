"""Thought-cloning warm start: NLL on the oracle's action tokens only, through the agent loop."""

import time

import pytest
import torch
from _lookup import lookup_grpo

from rewardlab.agents.sft import clone_oracle, masked_nll
from rewardlab.errors import ConfigError


def test_masked_nll_by_hand():
    lp = torch.tensor([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])
    mask = torch.tensor([[1, 0, 1], [0, 1, 0]])
    assert float(masked_nll(lp, mask)) == pytest.approx((1 + 3 + 5) / 3)
    assert float(masked_nll(lp, mask, torch.tensor(6.0))) == pytest.approx(9 / 6)  # a micro-batch's share
    assert float(masked_nll(lp, torch.zeros_like(mask))) == 0.0


def _lookup_algo(**agent):
    return lookup_grpo(agent)


def test_cloning_the_oracle_teaches_the_tiny_llama_the_two_turn_lookup():
    # no lookup bonus: GRPO from scratch stays at chance here for 250 steps (docs/agents.md); SFT on
    # the oracle's two one-token turns (key, then the value the tool returned) needs no reward at all
    algo = _lookup_algo()
    before = algo.evaluate(40)["success_rate"]
    start = time.perf_counter()
    out = clone_oracle(algo.agent_loop, steps=40, batch_size=16, learning_rate=3e-3, seed=0)
    after = algo.evaluate(40)
    assert before <= 0.2
    assert after["success_rate"] >= 0.9, (after["success_rate"], out)
    assert out["sft/loss_last"] < 0.3 * out["sft/loss_first"]
    assert out["sft/action_tokens"] == 40 * 16 * 2  # one token per turn, two turns: observations untrained
    assert time.perf_counter() - start < 60


def test_sft_steps_in_the_agent_table_warm_start_the_first_step_only():
    algo = _lookup_algo(sft_steps=2, sft_batch_size=4)
    first = algo.step()
    assert first["sft/action_tokens"] == 2 * 4 * 2 and first["sft/loss_first"] > 0
    assert "sft/loss_first" not in algo.step()
    with pytest.raises(ConfigError, match="sft_steps must be >= 0"):
        _lookup_algo(sft_steps=-1)
