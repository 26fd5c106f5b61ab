"""Hand-computed values of the GRPO / RLOO / DPO losses and advantages."""

import math

import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.llm.dpo import dpo_loss
from rewardlab.llm.grpo import group_advantages, grpo_loss, grpo_loss_terms, overlong_penalty
from rewardlab.llm.rloo import rloo_advantages, rloo_kl_penalty, rloo_loss


def test_group_advantages_group_batch_none():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0])
    # group 1: mean 0.25, unbiased std sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5; group 2: all equal -> 0
    a = group_advantages(r, 4, "group")
    expected = torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]) / torch.tensor([0.5001] * 4 + [1e-4] * 4)
    torch.testing.assert_close(a, expected)
    assert group_advantages(r, 4, "none").tolist() == [0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]
    batch_std = r.std().item()  # torch.std is unbiased
    torch.testing.assert_close(
        group_advantages(r, 4, "batch"),
        torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]) / (batch_std + 1e-4),
    )


def test_group_advantages_nan_reward_is_left_out_and_gets_zero():
    r = torch.tensor([1.0, 0.0, float("nan"), 1.0])
    a = group_advantages(r, 4, "none")
    # mean over the three scorable rewards = 2/3
    torch.testing.assert_close(a, torch.tensor([1 / 3, -2 / 3, 0.0, 1 / 3]))


def test_group_advantages_bad_input_names_it():
    with pytest.raises(ConfigError, match="scale_rewards 'std'"):
        group_advantages(torch.zeros(4), 2, "std")
    with pytest.raises(ConfigError, match="multiple of num_generations=3"):
        group_advantages(torch.zeros(4), 3)


# ratios [[1.5, 0.5], [1.1, (masked)]], advantages [1, -1]
LOGP = torch.tensor([[math.log(1.5), math.log(0.5)], [math.log(1.1), 0.3]])
OLD = torch.zeros(2, 2)
ADV = torch.tensor([1.0, -1.0])
MASK = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
# per-token losses: -min(1.5, 1.2) = -1.2 ; -min(0.5, 0.8) = -0.5 ; -min(-1.1, -1.1) = 1.1
PTL = [-1.2, -0.5, 1.1]


@pytest.mark.parametrize(
    "loss_type, kwargs, expected",
    [
        ("grpo", {}, ((PTL[0] + PTL[1]) / 2 + PTL[2]) / 2),
        ("bnpo", {}, sum(PTL) / 3),
        ("dapo", {}, sum(PTL) / 3),
        ("dapo", {"num_items_in_batch": 6}, sum(PTL) / 6),
        ("dr_grpo", {}, sum(PTL) / (2 * 2)),
        ("dr_grpo", {"max_completion_length": 4}, sum(PTL) / (2 * 4)),
    ],
)
def test_grpo_loss_aggregations(loss_type, kwargs, expected):
    loss = grpo_loss(LOGP, OLD, None, ADV, MASK, loss_type=loss_type, **kwargs)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_grpo_clip_higher_and_delta():
    logp = torch.tensor([[math.log(1.5)]])
    one = torch.ones(1, 1)
    # A > 0: clipped at 1 + epsilon = 1.2, or 1 + epsilon_high = 1.6 (DAPO clip-higher)
    assert grpo_loss(logp, torch.zeros(1, 1), None, torch.tensor([1.0]), one).item() == pytest.approx(-1.2)
    assert grpo_loss(logp, torch.zeros(1, 1), None, torch.tensor([1.0]), one, epsilon_high=0.6).item() == (
        pytest.approx(-1.5)
    )
    # A < 0: the pessimistic min keeps the unclipped 1.5, unless delta caps it
    assert grpo_loss(logp, torch.zeros(1, 1), None, torch.tensor([-1.0]), one).item() == pytest.approx(1.5)
    assert grpo_loss(logp, torch.zeros(1, 1), None, torch.tensor([-1.0]), one, delta=1.3).item() == (
        pytest.approx(1.3)
    )


def test_grpo_k3_kl_and_on_policy_gradient():
    logp = torch.zeros(1, 2, requires_grad=True)
    ref = torch.full((1, 2), math.log(2.0))
    mask = torch.ones(1, 2)
    out = grpo_loss_terms(logp, None, ref, torch.tensor([0.5]), mask, beta=0.1)
    k3 = 2 - math.log(2) - 1  # exp(ref - logp) - (ref - logp) - 1
    # on-policy the ratio is 1: policy term -A, plus beta * k3 on each token; token mean
    assert out.loss.item() == pytest.approx(-0.5 + 0.1 * k3)
    assert out.kl.item() == pytest.approx(k3)
    out.loss.backward()
    # d/dlogp of -A * exp(logp - logp.detach()) / 2 = -A / 2; of beta * k3 / 2 = beta * (1 - exp(ref - logp)) / 2
    expected = -0.5 / 2 + 0.1 * (1 - 2.0) / 2
    torch.testing.assert_close(logp.grad, torch.full((1, 2), expected))


def test_gspo_sequence_level_ratio():
    logp = torch.tensor([[math.log(1.5), math.log(0.5)]])
    mask = torch.ones(1, 2)
    # sequence ratio = exp(mean log-ratio) = sqrt(0.75) = 0.866 -> A > 0 keeps min(0.866, 0.866)
    loss = grpo_loss(
        logp, torch.zeros(1, 2), None, torch.tensor([1.0]), mask, importance_sampling_level="sequence"
    )
    assert loss.item() == pytest.approx(-math.sqrt(0.75))


def test_cispo_weight_is_clipped_and_detached():
    logp = torch.tensor([[math.log(1.5), math.log(0.5)]], requires_grad=True)
    mask = torch.ones(1, 2)
    loss = grpo_loss(
        logp, torch.zeros(1, 2), None, torch.tensor([2.0]), mask, loss_type="cispo", epsilon_high=1.2
    )
    # -min(ratio, 1.2) * A * logp, token mean
    expected = -(1.2 * 2 * math.log(1.5) + 0.5 * 2 * math.log(0.5)) / 2
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    torch.testing.assert_close(logp.grad, torch.tensor([[-1.2 * 2 / 2, -0.5 * 2 / 2]]))


def test_clip_fractions():
    out = grpo_loss_terms(LOGP, OLD, None, ADV, MASK)
    assert out.clip_high.item() == pytest.approx(1 / 3)  # token (0,0): 1.5 > 1.2 with A > 0
    assert out.clip_low.item() == 0.0  # token (0,1) has ratio 0.5 < 0.8 but A > 0
    assert out.clip_fraction.item() == pytest.approx(1 / 3)


def test_grpo_bad_options_name_them():
    with pytest.raises(ConfigError, match="loss_type 'ppo'"):
        grpo_loss(LOGP, OLD, None, ADV, MASK, loss_type="ppo")
    with pytest.raises(ConfigError, match="ref_logprobs"):
        grpo_loss(LOGP, OLD, None, ADV, MASK, beta=0.1)
    with pytest.raises(ConfigError, match="importance_sampling_level 'seq'"):
        grpo_loss(LOGP, OLD, None, ADV, MASK, importance_sampling_level="seq")


def test_overlong_penalty():
    # L_max 20, buffer 4: 0 up to 16 tokens, then -1/4 per token, -1 at 20
    got = overlong_penalty(torch.tensor([10, 16, 17, 18, 20]), 20, 4)
    torch.testing.assert_close(got, torch.tensor([0.0, 0.0, -0.25, -0.5, -1.0]))


def test_rloo_leave_one_out():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0, 3.0, 1.0])
    # group 1: baselines [0, 1/3, 1/3, 1/3]; group of 2: baselines [1, 3]
    torch.testing.assert_close(rloo_advantages(r, 2)[4:], torch.tensor([2.0, -2.0]))
    torch.testing.assert_close(rloo_advantages(r[:4], 4), torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3]))
    with pytest.raises(ConfigError, match="num_generations >= 2"):
        rloo_advantages(r, 1)


def test_rloo_kl_penalty_and_loss():
    old = torch.tensor([[-1.0, -2.0], [-1.0, -1.0]])
    ref = torch.tensor([[-1.5, -2.0], [-1.0, -3.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    shaped, kl = rloo_kl_penalty(torch.tensor([1.0, 1.0]), old, ref, mask, beta=0.1)
    torch.testing.assert_close(kl, torch.tensor([0.5, 0.0]))
    torch.testing.assert_close(shaped, torch.tensor([0.95, 1.0]))
    # sequence ratio exp(sum logp - sum old): seq 0 exp(0.5) = 1.65 clipped at 1.2 for A > 0
    logp = old + torch.tensor([[0.25, 0.25], [0.0, 5.0]])
    loss = rloo_loss(logp, old, torch.tensor([1.0, -1.0]), mask)
    assert loss.item() == pytest.approx((-1.2 + 1.0) / 2)


def test_dpo_sigmoid_loss():
    zero = torch.zeros(2)
    loss, cr, rr = dpo_loss(zero, zero, zero, zero)
    assert loss.item() == pytest.approx(math.log(2))
    loss, cr, rr = dpo_loss(
        torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]), torch.tensor([-2.0]), beta=0.5
    )
    # h = (-1 + 2) - (-3 + 2) = 2; loss = -log sigmoid(0.5 * 2) = log(1 + e^-1)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)))
    assert cr.item() == pytest.approx(0.5) and rr.item() == pytest.approx(-0.5)
