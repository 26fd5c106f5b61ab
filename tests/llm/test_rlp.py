"""RLP: advantages by hand and summing to 0 per group, the proposition on a toy distribution (with
a control that fails), the thought-only surrogate, and the bad-input errors."""

import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.rlp import RLPConfig, expected_information_gain, information_gain_reward, rlp_advantages


def test_advantages_by_hand_and_sum_to_zero():
    r = torch.tensor([1.0, 2.0, 6.0, -1.0, -1.0, 2.0])
    a = rlp_advantages(r, 3)
    # group means 3 and 0; G / (G - 1) = 1.5
    torch.testing.assert_close(a, torch.tensor([-3.0, -1.5, 4.5, -1.5, -1.5, 3.0]))
    # equal to the leave-one-out baseline r_i - mean_{j != i} r_j
    loo = torch.tensor([1 - 4.0, 2 - 3.5, 6 - 1.5, -1 - 0.5, -1 - 0.5, 2 + 1.0])
    torch.testing.assert_close(a, loo)
    g = torch.Generator().manual_seed(0)
    many = rlp_advantages(torch.randn(16 * 8, generator=g), 16)
    torch.testing.assert_close(many.view(8, 16).sum(1), torch.zeros(8), atol=1e-5, rtol=0)


def test_expected_reward_is_the_cross_entropy_difference():
    """Proposition: E_{x ~ p*}[log p_theta(x | c) - log p_EMA(x)] = CE(p*, p_EMA) - CE(p*, p_theta(.|c)).
    Checked by sampling x_t from p* and averaging the reward function's values."""
    g = torch.Generator().manual_seed(0)
    vocab = 6
    p_star = torch.softmax(torch.randn(vocab, generator=g) * 2, -1)
    logp_ema = torch.log_softmax(torch.randn(vocab, generator=g), -1)
    logp_thought = torch.log_softmax(
        torch.randn(vocab, generator=g) + 2 * p_star.log(), -1
    )  # a helpful thought
    x = torch.multinomial(p_star, 200_000, replacement=True, generator=g)
    empirical = information_gain_reward(logp_thought[x], logp_ema[x]).mean()
    stated = expected_information_gain(p_star, logp_ema, logp_thought)
    ce = lambda p, logq: -(p * logq).sum()  # noqa: E731
    assert stated.item() == pytest.approx((ce(p_star, logp_ema) - ce(p_star, logp_thought)).item())
    assert empirical.item() == pytest.approx(stated.item(), abs=0.02)
    assert stated > 0.1  # the thought is informative: a positive expected reward
    # control: the reward with its two terms the wrong way round has the opposite expectation
    wrong = information_gain_reward(logp_ema[x], logp_thought[x]).mean()
    assert wrong.item() == pytest.approx(-stated.item(), abs=0.02)


def test_surrogate_trains_thought_tokens_only():
    """The loss RLP applies (grpo_loss_terms) has no gradient outside the thought mask: tokens after
    a thought's end and the predicted token itself get none."""
    from rewardlab.llm.grpo import grpo_loss_terms

    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -0.5]], requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    out = grpo_loss_terms(
        logp, None, None, torch.tensor([1.5, -1.5]), mask, loss_type="grpo", epsilon_high=0.28
    )
    out.loss.backward()
    # on-policy ratio 1: d/dlogp -(A * ratio) per sequence mean, then mean over 2 sequences
    torch.testing.assert_close(logp.grad, torch.tensor([[-0.375, -0.375, 0.0], [0.75, 0.0, 0.0]]))


@pytest.mark.parametrize(
    "sets, match",
    [
        ({"num_generations": 1}, r"num_generations=1.*>= 2 thoughts.*Valid: rlp: num_generations >= 2"),
        ({"beta": 0.1}, r"beta=0\.1.*no KL.*Valid: rlp:"),
        ({"num_iterations": 2}, r"num_iterations=2.*Valid: rlp:"),
        ({"ema_decay": 1.0}, r"ema_decay.*\[0, 1\).*Valid: rlp:"),
    ],
)
def test_bad_combinations_are_named(sets, match):
    with pytest.raises(ConfigError, match=match):
        RLPConfig(**sets).validate()
    if "num_generations" in sets:
        with pytest.raises(ConfigError, match="num_generations=1"):
            rlp_advantages(torch.zeros(4), 1)
