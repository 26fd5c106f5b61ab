"""DCoLT at small scale (seeds_table row 49): the Plackett–Luce unmasking policy and RL over the
whole reverse-diffusion trajectory of a tiny masked diffusion LM."""

import itertools
import math

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.dcolt import DCoLT, DCoLTConfig, encode, plackett_luce_logprob, sample_plackett_luce


def test_plackett_luce_logprob_by_hand():
    scores = torch.tensor([[1.0, 2.0, 3.0, 9.0]])
    available = torch.tensor([[True, True, True, False]])  # position 3 is already unmasked
    lp = plackett_luce_logprob(scores, torch.tensor([[2, 0]]), available)
    lse = lambda *v: math.log(sum(math.exp(x) for x in v))  # noqa: E731
    assert lp.item() == pytest.approx((3 - lse(1, 2, 3)) + (1 - lse(1, 2)))


def test_plackett_luce_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    available = torch.rand(3, 6, generator=gen) < 0.8
    available[:, :3] = True
    order = torch.stack([torch.randperm(3, generator=gen) for _ in range(3)])  # among available ones
    assert torch.autograd.gradcheck(lambda s: plackett_luce_logprob(s, order, available), (scores,))


def test_the_sampler_draws_orders_with_their_plackett_luce_probabilities():
    scores = torch.tensor([0.5, -1.0, 1.5])
    available = torch.ones(1, 3, dtype=torch.bool)
    gen = torch.Generator().manual_seed(1)
    n = 20000
    draws = sample_plackett_luce(scores.expand(n, 3), available.expand(n, 3), 2, gen)
    for order in itertools.permutations(range(3), 2):
        freq = float((draws == torch.tensor(order)).all(1).float().mean())
        p = plackett_luce_logprob(scores[None], torch.tensor([order]), available).exp().item()
        assert freq == pytest.approx(p, abs=0.012), order
    # greedy (no generator): the highest scores first
    assert sample_plackett_luce(scores[None], available, 2, None).tolist() == [[2, 0]]


def test_encode_writes_prompt_and_answer_digits():
    prompt, answer = encode(np.array([7, 42]), np.array([5, 9]), 2)
    assert prompt.tolist() == [[0, 7, 10, 0, 5, 11, 12, 12, 12], [4, 2, 10, 0, 9, 11, 12, 12, 12]]
    assert answer.tolist() == [[0, 1, 2], [0, 5, 1]]


def test_rl_over_the_trajectory_raises_exact_match_above_the_supervised_start():
    algo = DCoLT(DCoLTConfig(seed=1))
    for _ in range(algo.config.sft_steps):
        algo.step()
    start = algo.evaluate(100)["exact_match"]
    for _ in range(100):
        metrics = algo.step()
    assert "reward" in metrics  # these were RL steps
    after = algo.evaluate(100)["exact_match"]
    assert after >= start + 0.15, (start, after)  # measured 0.43 -> 0.73


def test_bad_configs_are_named():
    with pytest.raises(ConfigError, match=r"num_generations=1; group-normalised rewards need G >= 2"):
        DCoLTConfig(num_generations=1).validate()
    with pytest.raises(ConfigError, match=r"tokens_per_step=3 exceeds the answer length digits \+ 1 = 2"):
        DCoLTConfig(tokens_per_step=3).validate()
    with pytest.raises(ConfigError, match=r"env 'addition' only, got env 'arithmetic'"):
        DCoLTConfig(env="arithmetic").validate()
