"""Token-level PPO's and REINFORCE++'s functions equal the peers' formulas on the same random tensors.

The oracles below are TRANSCRIPTIONS OF THE PEERS' FORMULAS, written step by step as the peers
compute them (not rewardlab code):

* ``Verl`` -- verl (github.com/volcengine/verl, snapshot of 2026-01-29, commit b178a3c):
  ``verl/trainer/ppo/core_algos.py`` ``compute_gae_advantage_return``,
  ``compute_policy_loss_vanilla`` (token-mean ``agg_loss``), ``compute_value_loss``,
  ``kl_penalty_forward``, ``compute_rewards``; ``verl/utils/torch_functional.py`` ``masked_whiten``.
* ``OpenRLHF`` -- OpenRLHF (github.com/OpenRLHF/OpenRLHF, snapshot of 2026-08-13, commit 3c3be62):
  ``openrlhf/models/utils.py`` ``compute_approx_kl``, ``compute_reward``;
  ``openrlhf/trainer/ppo_utils/experience_maker.py`` ``compute_advantages_and_returns`` (estimators
  ``reinforce`` and ``reinforce_baseline``) and ``get_cumulative_returns``.
"""

import pytest
import torch

from rewardlab.llm.lm_ppo import clipped_value_loss, gae_advantages
from rewardlab.llm.reinforce_pp import reinforce_pp_advantages
from rewardlab.llm.token_credit import (
    clipped_policy_loss,
    kl_estimate,
    masked_whiten,
    token_level_rewards,
)


class Verl:
    """verl's formulas (transcribed; see the module docstring)."""

    @staticmethod
    def masked_mean(values, mask):
        return (torch.where(mask.bool(), values, 0.0) * mask).sum() / (mask.sum() + 1e-8)

    @classmethod
    def masked_whiten(cls, values, mask):
        mean = cls.masked_mean(values, mask)
        var = cls.masked_mean((values - mean) ** 2, mask)
        var = var * (mask.sum() / (mask.sum() - 1))
        return (values - mean) * torch.rsqrt(var + 1e-8)

    @classmethod
    def gae(cls, token_level_rewards, values, response_mask, gamma, lam):
        nextvalues, lastgaelam, advantages_reversed = 0, 0, []
        for t in reversed(range(token_level_rewards.shape[-1])):
            delta = token_level_rewards[:, t] + gamma * nextvalues - values[:, t]
            lastgaelam_ = delta + gamma * lam * lastgaelam
            nextvalues = values[:, t] * response_mask[:, t] + (1 - response_mask[:, t]) * nextvalues
            lastgaelam = lastgaelam_ * response_mask[:, t] + (1 - response_mask[:, t]) * lastgaelam
            advantages_reversed.append(lastgaelam)
        advantages = torch.stack(advantages_reversed[::-1], dim=1)
        returns = advantages + values
        return cls.masked_whiten(advantages, response_mask), returns

    @classmethod
    def policy_loss(cls, old_log_prob, log_prob, advantages, response_mask, clip, clip_c):
        negative_approx_kl = torch.clamp(log_prob - old_log_prob, min=-20.0, max=20.0)
        ratio = torch.exp(negative_approx_kl)
        pg_losses1 = -advantages * ratio
        pg_losses2 = -advantages * torch.clamp(ratio, 1 - clip, 1 + clip)
        clip_pg_losses1 = torch.maximum(pg_losses1, pg_losses2)
        pg_losses3 = -advantages * clip_c
        clip_pg_losses2 = torch.min(pg_losses3, clip_pg_losses1)
        pg_losses = torch.where(advantages < 0, clip_pg_losses2, clip_pg_losses1)
        return (pg_losses * response_mask).sum() / response_mask.sum()  # agg_loss token-mean

    @classmethod
    def value_loss(cls, vpreds, returns, values, response_mask, cliprange_value):
        vpredclipped = torch.clamp(vpreds, values - cliprange_value, values + cliprange_value)
        vf_losses1 = (vpreds - returns) ** 2
        vf_losses2 = (vpredclipped - returns) ** 2
        clipped = torch.max(vf_losses1, vf_losses2)
        return 0.5 * (clipped * response_mask).sum() / response_mask.sum()

    @staticmethod
    def kl_penalty(logprob, ref_logprob, kind):
        if kind == "k1":
            return logprob - ref_logprob
        if kind == "k2":
            return 0.5 * (logprob - ref_logprob).square()
        kl = torch.clamp(ref_logprob - logprob, min=-20, max=20)
        return torch.clamp(torch.exp(kl) - kl - 1, min=-10, max=10)


class OpenRLHF:
    """OpenRLHF's REINFORCE++ (transcribed; see the module docstring)."""

    @staticmethod
    def approx_kl(log_probs, log_probs_base, kl_estimator):
        log_ratio = log_probs.float() - log_probs_base.float()
        if kl_estimator == "k2":
            log_ratio = log_ratio**2 / 2.0
        elif kl_estimator == "k3":
            log_ratio = (-log_ratio).exp() - 1 + log_ratio
        return log_ratio.clamp(min=-10, max=10)

    @staticmethod
    def compute_reward(r, kl_coef, kl, action_mask):
        kl_reward = -kl_coef * kl
        eos_indices = action_mask.size(1) - 1 - action_mask.long().fliplr().argmax(dim=1, keepdim=True)
        last_reward = torch.zeros_like(kl).scatter_(dim=1, index=eos_indices, src=r.unsqueeze(1).to(kl.dtype))
        return last_reward + kl_reward

    @staticmethod
    def cumulative_returns(rewards, action_mask, gamma):
        returns = torch.zeros_like(rewards)
        cumulative_return = torch.zeros(rewards.size(0))
        rewards = action_mask * rewards
        for t in reversed(range(rewards.size(1))):
            cumulative_return = rewards[:, t] + gamma * cumulative_return
            returns[:, t] = cumulative_return
        return returns

    @classmethod
    def advantages(cls, rewards, n, estimator, kl_coef, kl, action_mask, gamma):
        rewards = rewards.reshape(-1, n)
        if estimator == "reinforce_baseline":
            rewards = rewards - rewards.mean(-1, keepdim=True)
        rewards = rewards.reshape(-1)
        reward = cls.compute_reward(rewards, kl_coef, kl, action_mask)
        adv = cls.cumulative_returns(reward, action_mask, gamma)
        num_actions = action_mask.sum()
        mean = (adv * action_mask).sum() / num_actions
        var = ((adv - mean).pow(2) * action_mask).sum() / num_actions
        return (adv - mean) * var.clamp(min=1e-8).rsqrt()


def _batch(seed, B=6, T=9, holes=False):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).float()
    if holes:  # observation spans inside the completions (multi-turn); the last token stays trained
        inner = (torch.rand(B, T, generator=g) < 0.3) & (torch.arange(T)[None, :] < lengths[:, None] - 1)
        inner[:, 0] = False
        mask = mask * (~inner).float()
    return g, mask


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("holes", [False, True])
def test_gae_equals_verl(seed, holes):
    g, mask = _batch(seed, holes=holes)
    values = torch.randn(mask.shape, generator=g)
    scores = torch.randn(mask.shape[0], generator=g)
    kl = torch.randn(mask.shape, generator=g) * 0.1
    rewards = token_level_rewards(scores, mask, kl, beta=0.05)
    for gamma, lam in [(1.0, 1.0), (0.99, 0.95), (0.9, 0.5)]:
        adv, ret = gae_advantages(rewards, values, mask, gamma, lam)
        v_adv, v_ret = Verl.gae(rewards, values, mask, gamma, lam)
        m = mask.bool()
        assert torch.allclose(masked_whiten(adv, mask)[m], v_adv[m], atol=1e-5)
        assert torch.allclose(ret[m], v_ret[m], atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_kl_in_reward_equals_verl_apply_kl_penalty(seed):
    g, mask = _batch(seed)
    logp, ref = -torch.rand(mask.shape, generator=g) * 3, -torch.rand(mask.shape, generator=g) * 3
    scores = torch.randn(mask.shape[0], generator=g)
    for kind in ("k1", "k2", "k3"):
        assert torch.allclose(kl_estimate(logp, ref, kind), Verl.kl_penalty(logp, ref, kind))
        # verl: token_level_scores (score at the last response token) - beta * kld * response_mask
        scores_t = torch.zeros_like(mask)
        last = mask.sum(1).long() - 1
        scores_t[torch.arange(len(last)), last] = scores
        expected = scores_t - 0.1 * Verl.kl_penalty(logp, ref, kind) * mask
        assert torch.allclose(token_level_rewards(scores, mask, kl_estimate(logp, ref, kind), 0.1), expected)


@pytest.mark.parametrize("seed", range(4))
def test_policy_and_value_losses_equal_verl(seed):
    g, mask = _batch(seed)
    old = -torch.rand(mask.shape, generator=g) * 3
    logp = old + torch.randn(mask.shape, generator=g) * 0.5  # ratios well outside [0.8, 1.2] too
    adv = torch.randn(mask.shape, generator=g)
    ours = clipped_policy_loss(logp, old, adv, mask, epsilon=0.2, clip_ratio_c=3.0).loss
    assert torch.allclose(ours, Verl.policy_loss(old, logp, adv, mask, 0.2, 3.0), atol=1e-6)
    values, old_v, returns = (torch.randn(mask.shape, generator=g) for _ in range(3))
    ours_v, _ = clipped_value_loss(values, old_v, returns, mask, value_clip=0.5)
    assert torch.allclose(ours_v, Verl.value_loss(values, returns, old_v, mask, 0.5), atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("estimator", ["reinforce", "reinforce_baseline"])
def test_reinforce_pp_equals_openrlhf(seed, estimator):
    g, mask = _batch(seed, B=8)
    logp, ref = -torch.rand(mask.shape, generator=g) * 3, -torch.rand(mask.shape, generator=g) * 3
    scores = (torch.rand(8, generator=g) < 0.5).float()
    for kind in ("k1", "k2", "k3"):
        kl = kl_estimate(logp, ref, kind)
        assert torch.allclose(kl, OpenRLHF.approx_kl(logp, ref, kind), atol=1e-6)  # same up to float order
        ours = reinforce_pp_advantages(
            scores,
            mask,
            kl=kl * mask,
            beta=0.01,
            gamma=1.0,
            baseline="group" if estimator == "reinforce_baseline" else "none",
            num_generations=4,
        )
        theirs = OpenRLHF.advantages(scores, 4, estimator, 0.01, kl * mask, mask, 1.0)
        assert torch.allclose(ours[mask.bool()], theirs[mask.bool()], atol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_reinforce_pp_with_observation_spans_equals_openrlhf_at_gamma_one(seed):
    """With gamma 1 skipping an observation span and summing across it agree; OpenRLHF zeroes the
    span's rewards and keeps accumulating, which is the same return on the trained tokens."""
    g, mask = _batch(seed, B=8, holes=True)
    scores = torch.randn(8, generator=g)
    ours = reinforce_pp_advantages(scores, mask)
    theirs = OpenRLHF.advantages(scores, 1, "reinforce", 0.0, torch.zeros_like(mask), mask, 1.0)
    assert torch.allclose(ours[mask.bool()], theirs[mask.bool()], atol=1e-5)
