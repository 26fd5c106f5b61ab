"""The offline losses as pure functions, each against a value computed by hand (or torch's own
distribution code where a density is involved)."""

import math

import pytest
import torch

from rewardlab.offline.bc import bc_loss, discrete_bc_loss
from rewardlab.offline.common import ensemble_mse, polyak_, td_target
from rewardlab.offline.cql import (
    cql_alpha_loss,
    cql_conservative_loss,
    sac_temperature_loss,
    squashed_gaussian_log_prob,
)
from rewardlab.offline.discrete_cql import discrete_cql_penalty
from rewardlab.offline.dt import attention_mask, dt_loss
from rewardlab.offline.iql import awr_actor_loss, awr_weights, expectile_loss, gaussian_log_prob
from rewardlab.offline.td3_bc import td3_bc_actor_loss, td3_target_actions

T = torch.tensor


def test_td_target_bootstraps_unless_terminated():
    # 1 + 0.9 * 10 = 10; the terminated step keeps only its reward
    assert td_target(T([1.0, 2.0]), T([0.0, 1.0]), T([10.0, 10.0]), 0.9).tolist() == pytest.approx(
        [10.0, 2.0]
    )


def test_ensemble_mse_adds_each_critics_mean_squared_error():
    # critic 0: ((1-1)^2 + (2-1)^2) / 2 = 0.5; critic 1: ((3-1)^2 + (4-1)^2) / 2 = 6.5
    assert float(ensemble_mse(T([[1.0, 2.0], [3.0, 4.0]]), T([1.0, 1.0]))) == pytest.approx(7.0)


def test_polyak_moves_targets_by_tau():
    target, source = [T([0.0, 10.0])], [T([10.0, 0.0])]
    polyak_(target, source, 0.1)
    assert target[0].tolist() == pytest.approx([1.0, 9.0])


def test_bc_losses():
    assert float(bc_loss(T([[0.5], [-0.5]]), T([[1.0], [0.0]]))) == pytest.approx(0.25)  # (0.25 + 0.25) / 2
    logits = T([[0.0, math.log(3.0)]])  # softmax = [1/4, 3/4]
    loss, nll = discrete_bc_loss(logits, T([1]), beta=0.5)
    assert float(nll) == pytest.approx(-math.log(0.75))
    assert float(loss) == pytest.approx(-math.log(0.75) + 0.5 * math.log(3.0) ** 2 / 2)


def test_td3_target_smoothing_clips_noise_then_action():
    # sigma * noise = [0.4, -0.8] -> clipped to [0.4, -0.5]; 0.9 + 0.4 = 1.3 -> clipped to 1
    out = td3_target_actions(T([0.9, -0.2]), T([2.0, -4.0]), sigma=0.2, clip=0.5)
    assert out.tolist() == pytest.approx([1.0, -0.7])


def test_td3_bc_actor_loss_normalises_q_by_its_mean_magnitude():
    q = T([2.0, -4.0], requires_grad=True)  # mean |Q| = 3 -> lambda = 2.5 / 3; mean Q = -1
    loss, bc = td3_bc_actor_loss(q, T([[0.5], [0.0]]), T([[0.0], [0.0]]), alpha=2.5)
    assert float(bc) == pytest.approx(0.125)
    assert float(loss.detach()) == pytest.approx(2.5 / 3 + 0.125)
    loss.backward()  # lambda is detached: dL/dQ_i = -lambda / B
    assert q.grad.tolist() == pytest.approx([-2.5 / 3 / 2] * 2)


def test_iql_expectile_and_awr():
    # u = [2, -1], tau = 0.7: (0.7 * 4 + 0.3 * 1) / 2
    assert float(expectile_loss(T([2.0, -1.0]), 0.7)) == pytest.approx(1.55)
    w = awr_weights(T([0.0, 1.0, 10.0]), T([0.0, 0.0, 0.0]), temperature=3.0, max_weight=100.0)
    assert w.tolist() == pytest.approx([1.0, math.exp(3.0), 100.0])
    assert float(awr_actor_loss(T([-1.0, -2.0]), T([1.0, 2.0]))) == pytest.approx(2.5)  # -(-1 - 4) / 2


def test_densities_match_torch_distributions():
    torch.manual_seed(0)
    mean, log_std, x = torch.randn(5, 3), torch.randn(5, 3) * 0.5, torch.randn(5, 3)
    normal = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(gaussian_log_prob(x, mean, log_std), normal.log_prob(x).sum(-1))
    # the tanh-squashed density: log N(u) - log(1 - tanh(u)^2), written in its overflow-free form
    expected = (normal.log_prob(x) - torch.log(1 - torch.tanh(x) ** 2)).sum(-1)
    torch.testing.assert_close(squashed_gaussian_log_prob(x, mean, log_std), expected)


def test_cql_conservative_loss_by_hand():
    # Two critics, one state, one sample of each kind. Critic 0: sample values 0 with log-probs
    # 0, 0 and log(1/2) for the uniform draw -> logsumexp(0, 0, log 2) = log 4; data value 1.
    # Critic 1: the same samples valued 1 -> log(4e); data value 0.
    zeros, ones = torch.zeros(1, 1, 1), torch.ones(1, 1, 1)
    values = torch.cat([zeros, ones])  # (2 critics, B=1, n=1)
    out = cql_conservative_loss(
        values, torch.zeros(1, 1), values, torch.zeros(1, 1), values, math.log(0.5),
        T([[1.0], [0.0]]), weight=5.0, threshold=10.0,
    )  # fmt: skip
    assert out.tolist() == pytest.approx([5 * (math.log(4) - 1 - 10), 5 * (math.log(4) + 1 - 0 - 10)])


def test_sac_temperature_and_cql_alpha_losses():
    log_temp = T(math.log(2.0), requires_grad=True)
    # -(2 * ((-1 - 1) + (1 - 1))) / 2 = 2; the log-probs carry no gradient
    logp = T([-1.0, 1.0], requires_grad=True)
    loss = sac_temperature_loss(log_temp, logp, target_entropy=-1.0)
    assert float(loss.detach()) == pytest.approx(2.0)
    loss.backward()
    assert float(log_temp.grad) == pytest.approx(2.0) and logp.grad is None
    log_alpha = T(0.0, requires_grad=True)
    a_loss = cql_alpha_loss(log_alpha, T([3.0, -1.0]))
    assert float(a_loss.detach()) == pytest.approx(-1.0)  # -(3 - 1) / 2
    a_loss.backward()
    assert float(log_alpha.grad) == pytest.approx(-1.0)  # a positive gap makes alpha grow


def test_dt_loss_counts_padded_slots_in_the_mean():
    # slot errors: sum_d (a_hat - a)^2 = [1 + 4, 9 + 0]; the second slot is padding: (5 + 0) / 2
    pred, act = T([[[1.0, 2.0], [3.0, 0.0]]]), torch.zeros(1, 2, 2)
    assert float(dt_loss(pred, act, T([[1.0, 0.0]]))) == pytest.approx(2.5)


def test_dt_attention_is_causal_skips_padding_and_never_empties_a_row():
    blocked = attention_mask(T([[0.0, 1.0]]), num_heads=2)  # slot 0 padded: tokens 0-2 padded
    assert blocked.shape == (2, 6, 6)
    allowed = ~blocked[0]
    assert allowed[1].tolist() == [False, True, False, False, False, False]  # a padded token sees itself
    assert allowed[4].tolist() == [False, False, False, True, True, False]  # (R1, s1): no padding, no future
    assert allowed.any(dim=1).all()


def test_discrete_cql_penalty_by_hand():
    # Q(s) = [0, log 3]: logsumexp = log 4; data action 0 -> log 4 - 0; data action 1 -> log 4 - log 3
    q = T([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    assert float(discrete_cql_penalty(q, T([0, 1]))) == pytest.approx((math.log(4) + math.log(4 / 3)) / 2)
