"""T2MIR's mixture-of-experts pieces (Transformers as Mixture-of-In-context-RL, NJU-RL/T2MIR).

As read from ``T2MIR-DPT/algorithms/moe.py`` (``TopKBalancedNoisyGate``) and
``T2MIR-AD/algorithms/transformers_moe.py`` (docs/offline.md, "T2MIR"):

- noisy top-k gating (Shazeer et al. 2017): clean logits x W_g, plus during training Gaussian noise
  of std softplus(x W_noise) + eps (eps 0.01); the k largest are softmax-normalised, the rest 0;
- load-balance loss = weight x (cv^2(importance) + cv^2(load)), importance = the gates summed over
  the tokens, load = the number of tokens each expert receives, cv^2 = var / mean^2 (weight 0.1 in
  every T2MIR-AD config, 1e-2 in moe.py's default);
- a layer with a token-wise and a task-wise MoE side by side, outputs (d/2 each) concatenated;
- the contrastive router loss: router logits averaged over a sequence's tokens are the query, the
  same from an EMA ("momentum", tau 0.005) copy of the gate on the other half of the batch (the
  same tasks) are the keys, a bilinear q W k^T InfoNCE (CURL's form) with the diagonal as the
  positives, symmetric over the two halves.

- during training with noise the load is moe.py's *smooth* estimate (Shazeer et al.'s
  ``_prob_in_top_k``): the probability, under the gate noise, that each expert stays in a token's
  top k, summed over tokens (:func:`smooth_load`); it is differentiable, so both terms of the
  balance loss steer the router. Without noise, and at evaluation, the load is the hard count.

Ours: experts are 2-layer ReLU MLPs and the gate is linear (the code's GLU experts and its default
Linear-Tanh-Linear gate are not reproduced). moe.py decides "in the top k" by comparing the noise
term alone with the threshold; we compare the noisy logit, as Shazeer et al. define it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def cv_squared(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Squared coefficient of variation var(x) / mean(x)^2 (unbiased var, as moe.py); 0 for one expert."""
    x = x.float()
    if x.numel() == 1:
        return torch.zeros((), dtype=x.dtype)
    return x.var() / (x.mean() ** 2 + eps)


def top_k_gates(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Softmax over each row's k largest logits, 0 elsewhere: (N, E) -> (N, E)."""
    top, idx = logits.topk(k, dim=-1)
    return torch.zeros_like(logits).scatter(-1, idx, torch.softmax(top, dim=-1))


def load_balance_loss(gates: torch.Tensor, weight: float, load: torch.Tensor | None = None) -> torch.Tensor:
    """weight x (cv^2(sum of gates per expert) + cv^2(load)); ``load`` defaults to the hard count of
    tokens routed to each expert (pass :func:`smooth_load`'s estimate during noisy training)."""
    importance = gates.sum(0)
    if load is None:
        load = (gates > 0).sum(0).float()
    return weight * (cv_squared(importance) + cv_squared(load))


def smooth_load(clean: torch.Tensor, noisy: torch.Tensor, noise_std: torch.Tensor, k: int) -> torch.Tensor:
    """Expected tokens per expert under the gate noise, (N, E) -> (E,): for each token and expert,
    P(clean + noise' beats the k-th best of the *other* experts' noisy logits) = Phi((clean -
    threshold) / std), where the threshold is the (k+1)-th largest noisy logit for an expert now in
    the top k and the k-th largest for one outside it."""
    top = noisy.topk(min(k + 1, noisy.shape[-1]), dim=-1).values
    if top.shape[-1] <= k:  # every expert is always selected
        return torch.full_like(clean[0], float(clean.shape[0]))
    threshold_if_in, threshold_if_out = top[:, k : k + 1], top[:, k - 1 : k]
    is_in = noisy > threshold_if_in
    normal_cdf = lambda z: 0.5 * (1 + torch.erf(z / math.sqrt(2)))  # noqa: E731
    prob = torch.where(is_in, normal_cdf((clean - threshold_if_in) / noise_std),
                       normal_cdf((clean - threshold_if_out) / noise_std))  # fmt: skip
    return prob.sum(0)


class NoisyTopKGate(nn.Module):
    def __init__(self, dim: int, n_experts: int, k: int = 2, noise_eps: float = 1e-2):
        super().__init__()
        self.w_gate = nn.Linear(dim, n_experts, bias=False)
        self.w_noise = nn.Linear(dim, n_experts, bias=False)
        nn.init.zeros_(self.w_noise.weight)
        self.k, self.noise_eps = k, noise_eps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gates (N, E), load (E,)): the smooth load while training with noise, else the hard count."""
        if not self.training:
            gates = top_k_gates(self.w_gate(x), self.k)
            return gates, (gates > 0).sum(0).float()
        clean = self.w_gate(x)
        std = F.softplus(self.w_noise(x)) + self.noise_eps
        noisy = clean + torch.randn_like(clean) * std
        return top_k_gates(noisy, self.k), smooth_load(clean, noisy, std, self.k)


class MoE(nn.Module):
    """Top-k routed experts over the last dimension; ``forward`` returns (output, gates)."""

    def __init__(self, dim: int, out_dim: int, n_experts: int, k: int = 2, hidden: int = 64):
        super().__init__()
        self.gate = NoisyTopKGate(dim, n_experts, k)
        self.out_dim = out_dim
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
            for _ in range(n_experts)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(output, gates (tokens, E), load (E,)) as :meth:`NoisyTopKGate.forward`."""
        flat = x.reshape(-1, x.shape[-1])
        gates, load = self.gate(flat)
        # each expert on its routed tokens only: k of E experts per token, so the T2MIR layer of
        # 6 + 12 experts costs about 4 expert passes a token instead of 18 (AD's training step was
        # 2.4x cheaper than T2MIR's with every expert on every token)
        y = flat.new_zeros(flat.shape[0], self.out_dim)
        for i, expert in enumerate(self.experts):
            rows = gates[:, i].nonzero(as_tuple=True)[0]
            if len(rows):
                y = y.index_add(0, rows, gates[rows, i, None] * expert(flat[rows]))
        return y.reshape(*x.shape[:-1], -1), gates, load


class T2MIRLayer(nn.Module):
    """A token-wise and a task-wise MoE side by side, each d/2 wide, outputs concatenated. The
    task-wise router's per-sequence mean logits are what the contrastive loss shapes."""

    def __init__(
        self, dim: int, token_experts: int = 6, task_experts: int = 12, k: int = 2, hidden: int = 64
    ):
        super().__init__()
        self.token_moe = MoE(dim, dim // 2, token_experts, k, hidden)
        self.task_moe = MoE(dim, dim - dim // 2, task_experts, k, hidden)

    def forward(
        self, x: torch.Tensor, balance_weight: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, d) -> (output (B, T, d), balance loss of both MoEs, task-router logits (B, E))."""
        a, ga, la = self.token_moe(x)
        b, gb, lb = self.task_moe(x)
        balance = load_balance_loss(ga, balance_weight, la) + load_balance_loss(gb, balance_weight, lb)
        router = self.task_moe.gate.w_gate(x).mean(1)
        return torch.cat([a, b], -1), balance, router


def contrastive_router_loss(query: torch.Tensor, key: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """InfoNCE with bilinear logits q W k^T (row max subtracted, as CURL), positives on the diagonal
    (row i of ``query`` and of ``key`` come from the same task)."""
    logits = query @ w @ key.T
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    return F.cross_entropy(logits, torch.arange(len(query)))


def symmetric_contrastive_router_loss(
    q1: torch.Tensor, k1: torch.Tensor, q2: torch.Tensor, k2: torch.Tensor, w: torch.Tensor
) -> torch.Tensor:
    """Half 1's queries against half 2's momentum keys and the other way round, averaged."""
    return 0.5 * (contrastive_router_loss(q1, k2, w) + contrastive_router_loss(q2, k1, w))


@torch.no_grad()
def momentum_update_(target: nn.Module, source: nn.Module, tau: float = 0.005) -> None:
    for t, s in zip(target.parameters(), source.parameters()):
        t.lerp_(s, tau)
