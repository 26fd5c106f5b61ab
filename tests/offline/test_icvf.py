"""ICVF (V-PTR's pre-training): the goal reward and the expectile-weighted loss by hand."""

import pytest
import torch

from rewardlab.offline.icvf import MultilinearValue, goal_reward_and_mask, icvf_loss


def test_goal_reward_and_mask():
    r, m = goal_reward_and_mask(torch.tensor([True, False]))
    assert r.tolist() == [0.0, -1.0] and m.tolist() == [0.0, 1.0]


def test_icvf_loss_by_hand():
    # one member, two samples, gamma 0.5, expectile 0.9
    v = torch.tensor([[1.0, 2.0]], requires_grad=True)
    next_gz = torch.tensor([[4.0, 4.0]])
    v_zz, next_zz = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 6.0]])
    r_g, m_g = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 0.0])
    r_z, m_z = torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0])
    # adv = r_z + 0.5 next_zz - v_zz = (-2, 1): weights (0.1, 0.9)
    # q = r_g + 0.5 m_g next_gz = (1, 0); (q - v)^2 = (0, 4)
    loss = icvf_loss(v, next_gz, v_zz, next_zz, r_g, m_g, r_z, m_z, gamma=0.5, expectile=0.9)
    assert float(loss.detach()) == pytest.approx((0.1 * 0 + 0.9 * 4) / 2)
    loss.backward()  # only V(s, g, z) gets a gradient: 2 w (v - q) / B
    assert v.grad.flatten().tolist() == pytest.approx([0.0, 0.9 * 2 * 2 / 2])


def test_members_add_and_the_network_shapes():
    torch.manual_seed(0)
    net = MultilinearValue(obs_dim=3, dim=8, hidden=(16,), members=2)
    s = torch.randn(5, 3)
    v = net(s, s, s)
    assert v.shape == (2, 5) and net.representation(s).shape == (5, 8)
    zeros = torch.zeros(2, 5)
    one = icvf_loss(v[:1], zeros[:1], zeros[:1], zeros[:1], zeros[0], zeros[0], zeros[0], zeros[0])
    two = icvf_loss(v, zeros, zeros, zeros, zeros[0], zeros[0], zeros[0], zeros[0])
    # adv = 0 >= 0 -> weight 0.9; q = 0: the loss is 0.9 mean(V^2) per member, summed
    v = v.detach()
    assert float(one) == pytest.approx(float(0.9 * v[0].pow(2).mean()))
    assert float(two) == pytest.approx(float(0.9 * (v[0].pow(2).mean() + v[1].pow(2).mean())))
