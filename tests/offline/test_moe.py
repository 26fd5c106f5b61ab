"""T2MIR's MoE pieces by hand, and the load-balance loss with a control arm whose experts collapse."""

import math

import pytest
import torch

from rewardlab.offline import moe


def test_cv_squared_top_k_and_balance_loss_by_hand():
    # var (unbiased) of (1, 2, 3) = 1, mean 2: cv^2 = 1/4
    assert float(moe.cv_squared(torch.tensor([1.0, 2.0, 3.0]))) == pytest.approx(0.25)
    assert float(moe.cv_squared(torch.tensor([5.0]))) == 0.0
    gates = moe.top_k_gates(torch.tensor([[0.0, 1.0, 3.0], [2.0, 2.0, -1.0]]), k=2)
    e = math.exp(1.0)
    assert gates[0].tolist() == pytest.approx([0.0, 1 / (1 + e**2), e**2 / (1 + e**2)])
    assert gates[1].tolist() == pytest.approx([0.5, 0.5, 0.0])
    # importance (0.5, 0.5 + 0.1192, 0.8808), load (1, 2, 1)
    imp = gates.sum(0)
    load = torch.tensor([1.0, 2.0, 1.0])
    expected = 0.1 * (imp.var() / imp.mean() ** 2 + load.var() / load.mean() ** 2)
    assert float(moe.load_balance_loss(gates, 0.1)) == pytest.approx(float(expected))


def test_smooth_load_by_hand_and_differentiable():
    # one token, three experts, k = 1: noisy (1.5, 0.2, -0.3) puts expert 0 in the top 1 with the
    # runner-up 0.2 as its threshold; experts 1 and 2 must beat the leader's 1.5
    clean = torch.tensor([[1.0, 0.0, 0.0]], requires_grad=True)
    noisy = torch.tensor([[1.5, 0.2, -0.3]])
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    load = moe.smooth_load(clean, noisy, torch.ones(1, 3), k=1)
    assert load.tolist() == pytest.approx([phi(0.8), phi(-1.5), phi(-1.5)])
    load.sum().backward()
    assert clean.grad.abs().sum() > 0  # the load term steers the router (the hard count cannot)
    assert moe.smooth_load(clean, noisy, torch.ones(1, 3), k=3).tolist() == [1.0, 1.0, 1.0]


def test_contrastive_router_loss_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = 2.0 * torch.eye(2)
    # logits q W k^T = 2 I: each row's positive has logit 2, its negative 0
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert float(moe.contrastive_router_loss(q, q, w)) == pytest.approx(expected)
    swapped = q.flip(0)  # keys in the wrong order: the positives now score 0 against 2
    assert float(moe.contrastive_router_loss(q, swapped, w)) == pytest.approx(
        -math.log(1 / (1 + math.exp(2)))
    )
    sym = moe.symmetric_contrastive_router_loss(q, q, q, swapped, w)
    assert float(sym) == pytest.approx(0.5 * (-math.log(1 / (1 + math.exp(2))) + expected))


def test_routed_experts_equal_every_expert_weighted_by_its_gate():
    # the layer runs each expert on its routed tokens only; the dense sum over all experts is the
    # definition, in value and in gradient
    torch.manual_seed(0)
    layer = moe.MoE(8, 3, n_experts=6, k=2, hidden=16)
    x = torch.randn(5, 7, 8, requires_grad=True)
    y, gates, _ = layer(x)
    flat = x.reshape(-1, 8)
    dense = (gates.unsqueeze(-1) * torch.stack([e(flat) for e in layer.experts], 1)).sum(1)
    assert torch.allclose(y.reshape(-1, 3), dense, atol=1e-6)
    assert ((gates > 0).sum(1) == 2).all()
    (g_sparse,) = torch.autograd.grad(y.square().sum(), x, retain_graph=True)
    (g_dense,) = torch.autograd.grad(dense.square().sum(), x)
    assert torch.allclose(g_sparse, g_dense, atol=1e-5)


def test_momentum_update_moves_by_tau():
    a, b = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    a.weight.data.fill_(0.0)
    b.weight.data.fill_(1.0)
    moe.momentum_update_(a, b, tau=0.005)
    assert float(a.weight.detach()) == pytest.approx(0.005)


def _expert_load_cv2(balance_weight: float, smooth: bool = True) -> float:
    torch.manual_seed(0)
    layer = moe.MoE(8, 1, n_experts=6, k=2, hidden=16)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-2)
    w = torch.randn(8, 1)
    for _ in range(200):
        x = torch.randn(256, 8) + 2.0  # a shared offset: every token first prefers the same experts
        out, gates, load = layer(x)
        balance = moe.load_balance_loss(gates, balance_weight, load if smooth else None)
        loss = (out - torch.sin(x @ w)).pow(2).mean() + balance
        opt.zero_grad()
        loss.backward()
        opt.step()
    layer.eval()
    with torch.no_grad():
        _, gates, _ = layer(torch.randn(4096, 8) + 2.0)
    return float(moe.cv_squared((gates > 0).sum(0).float()))


def test_balance_loss_keeps_experts_loaded_and_its_absence_collapses_them():
    """Measured here (200 steps; evaluation load, hard count, noise off), seeds 0 / 1 / 2 / 3: load
    cv^2 with T2MIR-AD's weight 0.1 and moe.py's smooth load 0.005 / 0.07 / 0.03 / 0.13 (400 steps:
    0.05 / 0.009 / 0.006 / 0.04); with the hard count in the loss instead (no gradient through the
    load term) 0.23 / 0.10 / 0.26 / 0.51; without the loss 1.5 / 1.7 / 1.6 / 2.3."""
    torch.set_num_threads(1)
    balanced, hard, free = _expert_load_cv2(0.1), _expert_load_cv2(0.1, smooth=False), _expert_load_cv2(0.0)
    assert balanced < 0.1 and free > 1.0, (balanced, free)
    assert hard > 2 * balanced, (balanced, hard)  # the smooth load is what balances
