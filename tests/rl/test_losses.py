"""The pure loss functions of PPO and DQN against numbers computed by hand (in the comments)."""

import copy
import math

import pytest
import torch

from rewardlab.rl.dqn import dqn_loss, dqn_targets
from rewardlab.rl.ppo import compute_gae, ppo_diagnostics, ppo_loss


def _col(values):
    return torch.tensor(values, dtype=torch.float32).reshape(-1, 1)  # (T, 1 env)


def test_gae_five_steps_with_truncation_in_the_middle():
    # One env, 5 steps; the episode is truncated at t=2 (time limit) and a new one starts at t=3.
    # gamma = lambda = 0.5, rewards 1, V = [1, 2, 3, 4, 5], V(final obs at t=2) = 10, V(after t=4) = 6.
    # next_values = [2, 3, 10, 5, 6]; deltas = r + 0.5 nv - v = [1, 0.5, 3, -0.5, -1]
    # A4 = -1; A3 = -0.5 + 0.25 * A4 = -0.75; A2 = 3 (trace cut at the episode end);
    # A1 = 0.5 + 0.25 * 3 = 1.25; A0 = 1 + 0.25 * 1.25 = 1.3125
    adv, ret = compute_gae(
        rewards=_col([1, 1, 1, 1, 1]),
        values=_col([1, 2, 3, 4, 5]),
        next_values=_col([2, 3, 10, 5, 6]),
        terminations=_col([0, 0, 0, 0, 0]),
        dones=_col([0, 0, 1, 0, 0]),
        gamma=0.5,
        gae_lambda=0.5,
    )
    assert adv.squeeze(1).tolist() == pytest.approx([1.3125, 1.25, 3.0, -0.75, -1.0])
    assert ret.squeeze(1).tolist() == pytest.approx([2.3125, 3.25, 6.0, 3.25, 4.0])


def test_gae_termination_does_not_bootstrap():
    # Same episode but *terminated* at t=2: delta2 = 1 - 3 = -2 (no 0.5 * 10),
    # A1 = 0.5 + 0.25 * (-2) = 0, A0 = 1 + 0.25 * 0 = 1.
    adv, _ = compute_gae(
        _col([1, 1, 1, 1, 1]), _col([1, 2, 3, 4, 5]), _col([2, 3, 10, 5, 6]),
        _col([0, 0, 1, 0, 0]), _col([0, 0, 1, 0, 0]), gamma=0.5, gae_lambda=0.5,
    )  # fmt: skip
    assert adv.squeeze(1).tolist() == pytest.approx([1.0, 0.0, -2.0, -0.75, -1.0])


def test_gae_lambda_one_is_discounted_return_minus_value():
    rewards = torch.rand(6, 3)
    values = torch.rand(6, 3)
    last = torch.rand(3)
    next_values = torch.cat([values[1:], last[None]])
    zeros = torch.zeros(6, 3)
    adv, ret = compute_gae(rewards, values, next_values, zeros, zeros, gamma=0.9, gae_lambda=1.0)
    expected = torch.zeros(6, 3)
    running = last.clone()
    for t in range(5, -1, -1):
        running = rewards[t] + 0.9 * running
        expected[t] = running
    assert torch.allclose(ret, expected, atol=1e-5)


def test_ppo_clipped_loss_by_hand():
    # ratios 1.5, 0.5, 1.1 with advantages 1, 1, -1 and clip 0.2:
    # min(1.5, 1.2) = 1.2; min(0.5, 0.8) = 0.5; min(-1.1, -1.1) = -1.1 -> policy loss -(0.6)/3 = -0.2
    # value loss ((1-0)^2 + (2-0)^2 + (3-0)^2) / 3 = 14/3, x vf_coef 0.5 = 7/3
    # entropy bonus -0.1 * 0.5 = -0.05 -> total -0.2 + 7/3 - 0.05
    logp = torch.log(torch.tensor([1.5, 0.5, 1.1]))
    loss, stats = ppo_loss(
        logp, torch.zeros(3), torch.tensor([1.0, 1.0, -1.0]), torch.zeros(3), torch.zeros(3),
        torch.tensor([1.0, 2.0, 3.0]), torch.full((3,), 0.5),
        clip_range=0.2, ent_coef=0.1, vf_coef=0.5, normalize_advantage=False,
    )  # fmt: skip
    assert loss.item() == pytest.approx(-0.2 + 7 / 3 - 0.05, abs=1e-6)
    assert stats["policy_loss"].item() == pytest.approx(-0.2, abs=1e-6)
    assert stats["value_loss"].item() == pytest.approx(14 / 3, abs=1e-6)
    diagnostics = ppo_diagnostics(stats["log_ratio"], clip_range=0.2)
    assert diagnostics["clip_fraction"].item() == pytest.approx(2 / 3)  # 1.5 and 0.5 lie outside 1 +- 0.2
    # approx KL = mean((r - 1) - log r) = ((0.5 - ln 1.5) + (-0.5 - ln 0.5) + (0.1 - ln 1.1)) / 3
    expected_kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5)) + (0.1 - math.log(1.1))) / 3
    assert diagnostics["approx_kl"].item() == pytest.approx(expected_kl, abs=1e-6)


def test_ppo_entropy_bonus_enters_the_loss_only_with_a_coefficient():
    args = (torch.zeros(2), torch.zeros(2), torch.ones(2), torch.zeros(2), torch.zeros(2), torch.zeros(2))
    entropy = torch.tensor([0.3, 0.5], requires_grad=True)
    loss, terms = ppo_loss(*args, entropy, clip_range=0.2, ent_coef=0.0, normalize_advantage=False)
    assert loss.item() == pytest.approx(-1.0) and terms["entropy"].item() == pytest.approx(0.4)
    loss, _ = ppo_loss(*args, entropy, clip_range=0.2, ent_coef=0.5, normalize_advantage=False)
    assert loss.item() == pytest.approx(-1.0 - 0.5 * 0.4)
    loss.backward()
    assert entropy.grad.tolist() == pytest.approx([-0.25, -0.25])


def test_ppo_value_clipping_by_hand():
    # old values 0, new values [1, -1, 0.1] clipped to +-0.5 -> [0.5, -0.5, 0.1];
    # returns [1, 2, 3]: (0.25 + 6.25 + 8.41) / 3 = 4.97
    _, stats = ppo_loss(
        torch.zeros(3), torch.zeros(3), torch.ones(3), torch.tensor([1.0, -1.0, 0.1]), torch.zeros(3),
        torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3), clip_range=0.2, clip_range_vf=0.5, normalize_advantage=False,
    )  # fmt: skip
    assert stats["value_loss"].item() == pytest.approx(4.97, abs=1e-5)


def test_ppo_advantage_normalisation_uses_unbiased_std():
    # advantages [1, 3]: mean 2, unbiased std sqrt(2) -> normalised [-1/sqrt2, 1/sqrt2];
    # ratio 1 everywhere -> policy loss = -mean(normalised) = 0
    _, stats = ppo_loss(
        torch.zeros(2), torch.zeros(2), torch.tensor([1.0, 3.0]), torch.zeros(2), torch.zeros(2), torch.zeros(2),
        torch.zeros(2), clip_range=0.2,
    )  # fmt: skip
    assert stats["policy_loss"].item() == pytest.approx(0.0, abs=1e-7)
    # with ratio 2 on the first sample (A = -1/sqrt2), the clipped term wins: min(-2/sqrt2, -1.2/sqrt2)
    _, stats = ppo_loss(
        torch.tensor([math.log(2.0), 0.0]), torch.zeros(2), torch.tensor([1.0, 3.0]), torch.zeros(2),
        torch.zeros(2), torch.zeros(2), torch.zeros(2), clip_range=0.2,
    )  # fmt: skip
    a = 1 / math.sqrt(2)
    assert stats["policy_loss"].item() == pytest.approx(-(-2 * a + a) / 2, abs=1e-6)


def test_dqn_target_and_double_dqn_target_by_hand():
    rewards = torch.tensor([1.0, 0.5])
    dones = torch.tensor([0.0, 1.0])
    next_q_target = torch.tensor([[1.0, 3.0], [2.0, 4.0]])
    # DQN: 1 + 0.9 * max(1, 3) = 3.7; terminal: 0.5
    assert dqn_targets(rewards, dones, next_q_target, 0.9).tolist() == pytest.approx([3.7, 0.5])
    # double DQN: online argmax picks action 0 -> 1 + 0.9 * Q_target(s', 0) = 1.9
    online = torch.tensor([[5.0, 0.0], [0.0, 1.0]])
    assert dqn_targets(rewards, dones, next_q_target, 0.9, next_q_online=online).tolist() == pytest.approx([1.9, 0.5])


def test_dqn_huber_loss_by_hand():
    # Q(s, a) = [2, 3], targets [3.7, 0.5]: errors -1.7 and 2.5, both beyond delta 1 -> |e| - 0.5
    # = 1.2 and 2.0 -> mean 1.6
    q = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    loss = dqn_loss(q, torch.tensor([1, 0]), torch.tensor([3.7, 0.5]))
    assert loss.item() == pytest.approx(1.6)
    # inside delta the loss is quadratic: 0.5 * 0.5^2 = 0.125
    assert dqn_loss(q, torch.tensor([0, 0]), torch.tensor([1.5, 3.0])).item() == pytest.approx(0.0625)


@pytest.mark.parametrize("max_norm", [0.1, 1e6])
def test_clip_grad_norm_equals_torch(max_norm):
    from rewardlab.rl.common import clip_grad_norm, mlp

    torch.manual_seed(0)
    nets = [mlp(4, (16, 16), 2), mlp(4, (16, 16), 2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(8, 4)
    for net in nets:
        net(x).pow(2).sum().backward()
    ours = clip_grad_norm(list(nets[0].parameters()), max_norm)
    theirs = torch.nn.utils.clip_grad_norm_(nets[1].parameters(), max_norm)
    assert torch.equal(ours, theirs)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(a.grad, b.grad)


def test_sample_categorical_matches_the_distribution():
    from rewardlab.rl.distributions import sample_categorical

    torch.manual_seed(0)
    draws = sample_categorical(torch.tensor([[0.1, 0.2, 0.7]]).repeat(200_000, 1))
    freq = torch.bincount(draws, minlength=3).float() / 200_000
    assert torch.allclose(freq, torch.tensor([0.1, 0.2, 0.7]), atol=0.004)  # ~4 standard errors
    # zero-probability actions are never drawn
    assert (sample_categorical(torch.tensor([[1.0, 0.0, 0.0]]).repeat(1000, 1)) == 0).all()
    assert (sample_categorical(torch.tensor([[0.0, 0.0, 1.0]]).repeat(1000, 1)) == 2).all()


def test_lean_adam_equals_torch_fused_adam_and_restores_state():
    from rewardlab.rl.common import LeanAdam, mlp

    torch.manual_seed(0)
    nets = [mlp(4, (16, 16), 2), mlp(4, (16, 16), 2), mlp(4, (16, 16), 2)]
    for net in nets[1:]:
        net.load_state_dict(nets[0].state_dict())
    ours = LeanAdam(nets[0].parameters(), lr=1e-2, eps=1e-5)
    theirs = torch.optim.Adam(nets[1].parameters(), lr=1e-2, eps=1e-5, fused=True)
    x = torch.randn(32, 4)
    for step in range(6):
        for net, opt in ((nets[0], ours), (nets[1], theirs)):
            opt.param_groups[0]["lr"] = 1e-2 / (step + 1)  # a schedule, as PPO anneals it
            opt.zero_grad(set_to_none=True)
            net(x).pow(2).sum().backward()
            opt.step()
        if step == 2:  # a checkpoint round trip into a third optimizer continues identically
            resumed = LeanAdam(nets[2].parameters(), lr=1e-2, eps=1e-5)
            nets[2].load_state_dict(nets[0].state_dict())
            resumed.load_state_dict(copy.deepcopy(ours.state_dict()))  # as torch.save/load would
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(a, b)
    assert ours.state_dict()["state"][0]["step"].item() == 6.0
    for step in range(3, 6):
        resumed.param_groups[0]["lr"] = 1e-2 / (step + 1)
        resumed.zero_grad(set_to_none=True)
        nets[2](x).pow(2).sum().backward()
        resumed.step()
    for a, b in zip(nets[2].parameters(), nets[0].parameters()):
        assert torch.equal(a, b)
