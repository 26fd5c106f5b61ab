"""Token-level PPO's and REINFORCE++'s pure functions against values computed by hand."""

import math

import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.lm_ppo import clipped_value_loss, gae_advantages
from rewardlab.llm.reinforce_pp import global_normalize, reinforce_pp_advantages, reinforce_pp_returns
from rewardlab.llm.token_credit import (
    clipped_policy_loss,
    kl_estimate,
    kl_loss_term,
    masked_whiten,
    token_level_rewards,
)

T = torch.tensor


def test_gae_by_hand_lambda_one_gives_the_monte_carlo_return():
    rewards, values, mask = T([[0.0, 0.0, 1.0]]), T([[0.5, 0.6, 0.7]]), torch.ones(1, 3)
    adv, ret = gae_advantages(rewards, values, mask, gamma=1.0, lam=1.0)
    # delta_2 = 1 - .7 = .3; delta_1 = .7 - .6 = .1; delta_0 = .6 - .5 = .1; A = suffix sums
    assert torch.allclose(adv, T([[0.5, 0.4, 0.3]]))
    assert torch.allclose(ret, T([[1.0, 1.0, 1.0]]))


def test_gae_by_hand_with_discount_and_lambda():
    rewards, values, mask = T([[0.0, 0.0, 1.0]]), T([[0.5, 0.6, 0.7]]), torch.ones(1, 3)
    adv, ret = gae_advantages(rewards, values, mask, gamma=0.9, lam=0.5)
    # A_2 = .3; A_1 = (.9*.7 - .6) + .45*.3 = .165; A_0 = (.9*.6 - .5) + .45*.165 = .11425
    assert torch.allclose(adv, T([[0.11425, 0.165, 0.3]]))
    assert torch.allclose(ret, T([[0.61425, 0.765, 1.0]]))


def test_gae_skips_observation_spans_the_verl_7278_regression():
    """Observation tokens (mask 0) inside a multi-turn completion are not steps: inserting them
    changes no trained token's advantage or return (they neither bootstrap nor discount). The bug
    class of verl #7278: a mask-0 span treated as an episode end cut the earlier turn's credit."""
    compact_adv, compact_ret = gae_advantages(
        T([[0.0, 0.0, 1.0]]), T([[0.5, 0.6, 0.7]]), torch.ones(1, 3), 0.9, 0.5
    )
    # turn 1 = token 0, observation = tokens 1-2 (their values are garbage and must not be read),
    # turn 2 = tokens 3-4, then padding
    mask = T([[1.0, 0.0, 0.0, 1.0, 1.0, 0.0]])
    values = T([[0.5, 9.0, -9.0, 0.6, 0.7, 5.0]])
    rewards = T([[0.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    adv, ret = gae_advantages(rewards, values, mask, 0.9, 0.5)
    assert torch.allclose(adv[mask.bool()], compact_adv.flatten())
    assert torch.allclose(ret[mask.bool()], compact_ret.flatten())
    assert torch.equal(adv[~mask.bool()], torch.zeros(3)) and torch.equal(ret[~mask.bool()], torch.zeros(3))
    # the control: treating the observation as a boundary (resetting at mask 0, the bug) loses the
    # reward for turn 1 -- the expected value differs, so the test above can fail
    cut_adv, _ = gae_advantages(rewards[:, :1], values[:, :1], mask[:, :1], 0.9, 0.5)
    assert not torch.allclose(cut_adv[0, 0], adv[0, 0])


def test_token_level_rewards_put_the_score_on_the_last_trained_token():
    mask = T([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    scores = T([1.0, 2.0, 3.0, 4.0])
    r = token_level_rewards(scores, mask)
    expected = T([[0, 1.0, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 3.0], [0, 0, 0, 0]])
    assert torch.equal(r, expected)  # row 1: after an observation; row 3: nothing trained, no reward
    kl = torch.full((4, 4), 0.5)
    shaped = token_level_rewards(scores, mask, kl, beta=0.1)
    assert torch.allclose(shaped, expected - 0.05 * mask.float())  # KL only on trained tokens


def test_kl_estimators_by_hand():
    logp, ref = T([math.log(0.5)]), T([math.log(0.25)])
    assert kl_estimate(logp, ref, "k1").item() == pytest.approx(math.log(2))
    assert kl_estimate(logp, ref, "k2").item() == pytest.approx(0.5 * math.log(2) ** 2)
    assert kl_estimate(logp, ref, "k3").item() == pytest.approx(0.5 + math.log(2) - 1)
    assert kl_estimate(T([0.0]), T([-100.0]), "k3").item() == 10.0  # clamped, not inf
    with pytest.raises(ConfigError, match="kl_estimator 'k4' is not one of k1, k2, k3"):
        kl_estimate(logp, ref, "k4")
    loss = kl_loss_term(T([[math.log(0.5), 0.0]]), T([[math.log(0.25), 0.0]]), T([[1.0, 0.0]]), "k1")
    assert loss.item() == pytest.approx(math.log(2))  # the masked token does not count


def test_clipped_policy_loss_by_hand():
    ratio = T([[1.5, 1.5, 4.0, 0.5]])
    old = torch.zeros(1, 4)
    logp = torch.log(ratio)
    adv = T([[1.0, -1.0, -1.0, -1.0]])
    mask = torch.ones(1, 4)
    # per token: max(-A rho, -A clip(rho, .8, 1.2)) = -1.2, 1.5, 4.0, 0.8; dual clip caps A<0 at 3
    out = clipped_policy_loss(logp, old, adv, mask, epsilon=0.2, clip_ratio_c=3.0)
    assert out.loss.item() == pytest.approx((-1.2 + 1.5 + 3.0 + 0.8) / 4)
    plain = clipped_policy_loss(logp, old, adv, mask, epsilon=0.2, clip_ratio_c=None)
    assert plain.loss.item() == pytest.approx((-1.2 + 1.5 + 4.0 + 0.8) / 4)
    masked = clipped_policy_loss(logp, old, adv, T([[1.0, 1.0, 1.0, 0.0]]), clip_ratio_c=3.0)
    assert masked.loss.item() == pytest.approx((-1.2 + 1.5 + 3.0) / 3)
    assert out.clip_fraction.item() == pytest.approx(2 / 4)  # tokens 0 and 3 take the clipped branch
    # a whole-update normaliser: the token mean over 8 tokens of which these are 4
    assert clipped_policy_loss(logp, old, adv, mask, num_tokens=8).loss.item() == pytest.approx(4.1 / 8)
    # gradient on-policy (ratio 1): -A / n per token
    lp = torch.zeros(1, 2, requires_grad=True)
    clipped_policy_loss(lp, torch.zeros(1, 2), T([[2.0, -1.0]]), torch.ones(1, 2)).loss.backward()
    assert torch.allclose(lp.grad, T([[-1.0, 0.5]]))


def test_clipped_value_loss_by_hand():
    values, old, returns, mask = T([[1.0, 0.0]]), T([[0.5, 0.5]]), T([[0.8, 1.0]]), torch.ones(1, 2)
    # clip(V, old +- .2) = .7, .3; squared errors: max(.04, .01), max(1.0, .49)
    loss, clipfrac = clipped_value_loss(values, old, returns, mask, value_clip=0.2)
    assert loss.item() == pytest.approx(0.5 * (0.04 + 1.0) / 2)
    assert clipfrac.item() == 0.0
    loss, clipfrac = clipped_value_loss(T([[1.0]]), T([[0.5]]), T([[1.0]]), torch.ones(1, 1), value_clip=0.2)
    assert loss.item() == pytest.approx(0.5 * 0.09) and clipfrac.item() == 1.0  # the clipped term binds
    loss, _ = clipped_value_loss(T([[1.0]]), T([[0.5]]), T([[1.0]]), torch.ones(1, 1), value_clip=None)
    assert loss.item() == 0.0


def test_masked_whiten_by_hand():
    x, mask = T([[1.0, 2.0, 3.0, 100.0]]), T([[1.0, 1.0, 1.0, 0.0]])
    # mean 2, Bessel variance 1: (x - 2) / 1 on the mask, 0 off it
    assert torch.allclose(masked_whiten(x, mask), T([[-1.0, 0.0, 1.0, 0.0]]), atol=1e-6)
    with pytest.raises(ConfigError, match="at least 2 trained tokens"):
        masked_whiten(x, T([[1.0, 0.0, 0.0, 0.0]]))


def test_reinforce_pp_returns_skip_observations_verl_7278():
    # gamma .5, two trained tokens, an observation span, the rewarded trained token, padding
    returns = reinforce_pp_returns(T([[0.0, 0.0, 0.0, 0.0, 2.0, 0.0]]), T([[1, 1, 0, 0, 1, 0]]), gamma=0.5)
    assert torch.allclose(returns, T([[0.5, 1.0, 0.0, 0.0, 2.0, 0.0]]))
    compact = reinforce_pp_returns(T([[0.0, 0.0, 1.0]]), torch.ones(1, 3))
    expanded = reinforce_pp_returns(T([[0.0, 0.0, 0.0, 0.0, 1.0]]), T([[1, 1, 0, 0, 1]]))
    assert torch.equal(expanded[T([[1, 1, 0, 0, 1]]).bool()], compact.flatten())


def test_reinforce_pp_advantages_by_hand():
    assert torch.allclose(global_normalize(T([[1.0, 3.0]]), torch.ones(1, 2)), T([[-1.0, 1.0]]))
    # scores 1 and 0; returns on the trained tokens 1, 1, 0: mean 2/3, biased variance 2/9
    adv = reinforce_pp_advantages(T([1.0, 0.0]), T([[1, 1], [1, 0]]))
    s = math.sqrt(2 / 9)
    assert torch.allclose(adv, T([[(1 / 3) / s, (1 / 3) / s], [-(2 / 3) / s, 0.0]]), atol=1e-6)
    # REINFORCE++-baseline: the group mean is subtracted first; scores (1, 0) -> (.5, -.5)
    adv_b = reinforce_pp_advantages(T([1.0, 0.0]), torch.ones(2, 1), baseline="group", num_generations=2)
    assert torch.allclose(adv_b, T([[1.0], [-1.0]]))
    # the KL penalty shapes every trained token's return: beta .5, KL 1 on each of 2 tokens
    kl = torch.ones(1, 2)
    raw = reinforce_pp_returns(token_level_rewards(T([1.0]), torch.ones(1, 2), kl, 0.5), torch.ones(1, 2))
    assert torch.allclose(raw, T([[0.0, 0.5]]))  # token 1: 1 - .5; token 0: -.5 + .5
    with pytest.raises(ConfigError, match="needs num_generations >= 2"):
        reinforce_pp_advantages(T([1.0, 0.0]), torch.ones(2, 1), baseline="group", num_generations=1)
