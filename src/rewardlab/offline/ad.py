"""Algorithm Distillation on Darkroom learning histories, and T2MIR's mixture-of-experts variant.

Algorithm Distillation (Laskin et al. 2022, arXiv:2210.14215): a causal transformer reads a window
of a learner's history, one token per step built from (s_t, a_{t-1}, r_{t-1}), and predicts a_t by
cross-entropy. Because the window spans several episodes of an improving learner, the model can
improve *in context*: on a goal it never saw, its return should rise across the episodes it plays,
with frozen weights.

T2MIR (NJU-RL/T2MIR, ``T2MIR-AD``; docs/offline.md, "T2MIR") replaces the feed-forward block of one
layer by a token-wise and a task-wise MoE side by side (:class:`rewardlab.offline.moe.T2MIRLayer`),
adds their load-balance loss (weight 0.1, the T2MIR-AD configs) and the contrastive loss on the
task router (weight 0.01, momentum tau 0.005): each batch holds two windows of every task, one
half's router logits are the queries, the other half's from a momentum copy of the router the keys.

Ours: sizes for CPU (a 5x5 room, 25-step episodes, a context of 4 episodes, 2 layers of width 64),
one Q-learning history per training goal (:func:`rewardlab.offline.darkroom.learning_history`),
windows that start at episode boundaries, and sampling (not greedy) actions at evaluation so the
model can explore.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardlab.errors import ConfigError
from rewardlab.offline.darkroom import Darkroom
from rewardlab.offline.dataset import OfflineDataset
from rewardlab.offline.moe import T2MIRLayer, momentum_update_, symmetric_contrastive_router_loss

N_ACTIONS = 5


@dataclass
class ADConfig:
    t2mir: bool = False  # False: plain AD
    hidden: int = 64
    num_layers: int = 2
    num_heads: int = 4
    context_episodes: int = 4  # T2MIR-AD: 4 episodes of context
    learning_rate: float = 3e-4  # T2MIR-AD configs
    weight_decay: float = 1e-4
    batch_size: int = 32  # windows per step (two per task when t2mir)
    steps: int = 2000
    balance_weight: float = 0.1  # T2MIR-AD configs
    contrastive_weight: float = 0.01  # T2MIR-AD configs
    momentum_tau: float = 0.005
    token_experts: int = 6
    task_experts: int = 12
    seed: int = 0

    def validate(self) -> None:
        for key in ("hidden", "num_layers", "num_heads", "context_episodes", "batch_size", "steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"AD config {key} must be >= 1, got {getattr(self, key)}")
        if self.t2mir and self.batch_size % 2:
            raise ConfigError(
                f"T2MIR pairs two windows per task: batch_size must be even, got {self.batch_size}"
            )


def step_tokens(data: OfflineDataset) -> tuple[np.ndarray, np.ndarray]:
    """A history as AD's inputs (steps, 2 + 5 + 1): s_t, one-hot a_{t-1}, r_{t-1} (zeros before the
    first step; the previous step is the previous episode's last at an episode start), and a_t."""
    obs = data.observations[data._obs_rows()]
    actions = data.actions.reshape(-1).astype(np.int64)
    prev_a = np.zeros((len(actions), N_ACTIONS), np.float32)
    prev_a[np.arange(1, len(actions)), actions[:-1]] = 1
    prev_r = np.concatenate([[0.0], data.rewards[:-1]]).astype(np.float32)
    return np.column_stack([obs.astype(np.float32), prev_a, prev_r]), actions


class Block(nn.Module):
    """Pre-LayerNorm causal self-attention, then a feed-forward block or T2MIR's two MoEs."""

    def __init__(self, c: ADConfig, moe: bool):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(c.hidden), nn.LayerNorm(c.hidden)
        self.attn = nn.MultiheadAttention(c.hidden, c.num_heads, batch_first=True)
        # expert width 2 x hidden: T2MIR-AD's 768 / 6 token experts = 1536 / 12 task experts = 128 at width 64
        self.moe = (
            T2MIRLayer(c.hidden, c.token_experts, c.task_experts, k=2, hidden=2 * c.hidden) if moe else None
        )
        self.ffn = None if moe else nn.Sequential(nn.Linear(c.hidden, 4 * c.hidden), nn.GELU(),
                                                  nn.Linear(4 * c.hidden, c.hidden))  # fmt: skip

    def forward(self, x: torch.Tensor, causal: torch.Tensor, balance_weight: float):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=causal, need_weights=False)[0]
        h = self.ln2(x)
        if self.moe is None:
            return x + self.ffn(h), None, None, h
        out, balance, router = self.moe(h, balance_weight)
        return x + out, balance, router, h


class ADNet(nn.Module):
    def __init__(self, c: ADConfig, context: int):
        super().__init__()
        self.embed = nn.Linear(2 + N_ACTIONS + 1, c.hidden)
        self.pos = nn.Embedding(context, c.hidden)
        # T2MIR puts its MoEs in one layer (layer 3 of 4 in T2MIR-AD); ours: the last layer
        self.blocks = nn.ModuleList(
            Block(c, moe=c.t2mir and i == c.num_layers - 1) for i in range(c.num_layers)
        )
        self.norm = nn.LayerNorm(c.hidden)
        self.head = nn.Linear(c.hidden, N_ACTIONS)

    def forward(self, tokens: torch.Tensor, balance_weight: float = 0.0):
        """(B, T, 8) -> (logits (B, T, 5), balance loss, task-router logits (B, E) or None, MoE input)."""
        t = tokens.shape[1]
        x = self.embed(tokens) + self.pos(torch.arange(t))
        causal = torch.ones(t, t, dtype=torch.bool).triu(1)
        balance, router, moe_in = torch.zeros(()), None, None
        for block in self.blocks:
            x, b, r, h = block(x, causal, balance_weight)
            if b is not None:
                balance, router, moe_in = balance + b, r, h
        return self.head(self.norm(x)), balance, router, moe_in

    def moe_layer(self) -> T2MIRLayer | None:
        return next((b.moe for b in self.blocks if b.moe is not None), None)


class AD:
    """Train on learning histories (one per training task); :meth:`in_context` plays held-out goals."""

    def __init__(self, histories: list[OfflineDataset], c: ADConfig):
        c.validate()
        if not histories:
            raise ConfigError("AD needs at least one learning history")
        self.config = c
        horizon = int(histories[0].episode_lengths[0])
        self.horizon, self.context = horizon, c.context_episodes * horizon
        self.tasks = [step_tokens(h) for h in histories]
        short = [i for i, (x, _) in enumerate(self.tasks) if len(x) < self.context]
        if short:
            raise ConfigError(f"AD: histories {short} are shorter than the context of {self.context} steps")
        torch.manual_seed(c.seed)
        self.rng = np.random.default_rng(c.seed)
        self.net = ADNet(c, self.context)
        self.optimizer = torch.optim.AdamW(
            self.net.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay
        )
        moe = self.net.moe_layer()
        if moe is not None:  # the contrastive router loss: momentum keys and the bilinear W
            self.key_gate = copy.deepcopy(moe.task_moe.gate.w_gate).requires_grad_(False)
            self.w = nn.Parameter(torch.eye(c.task_experts))
            self.optimizer.add_param_group({"params": [self.w]})

    def window(self, task: int) -> tuple[np.ndarray, np.ndarray]:
        x, a = self.tasks[task]
        start = self.horizon * self.rng.integers(0, (len(x) - self.context) // self.horizon + 1)
        return x[start : start + self.context], a[start : start + self.context]

    def fit(self) -> list[dict[str, float]]:
        c, log = self.config, []
        for _ in range(c.steps):
            if c.t2mir:  # two windows of each task: halves with the same tasks, in the same order
                tasks = self.rng.integers(0, len(self.tasks), c.batch_size // 2)
                tasks = np.concatenate([tasks, tasks])
            else:
                tasks = self.rng.integers(0, len(self.tasks), c.batch_size)
            xs, acts = zip(*(self.window(int(t)) for t in tasks))
            x, a = torch.as_tensor(np.stack(xs)), torch.as_tensor(np.stack(acts))
            logits, balance, router, moe_in = self.net(x, c.balance_weight)
            loss = F.cross_entropy(logits.reshape(-1, N_ACTIONS), a.reshape(-1))
            row = {"ce": float(loss.detach())}
            if router is not None:
                keys = self.key_gate(moe_in.detach()).mean(1)
                half = c.batch_size // 2
                contrastive = symmetric_contrastive_router_loss(router[:half], keys[:half], router[half:], keys[half:],
                                                                self.w)  # fmt: skip
                loss = loss + balance + c.contrastive_weight * contrastive
                row |= {"balance": float(balance.detach()), "contrastive": float(contrastive.detach())}
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            if router is not None:
                momentum_update_(self.key_gate, self.net.moe_layer().task_moe.gate.w_gate, c.momentum_tau)
            log.append(row)
        return log

    @torch.no_grad()
    def in_context(self, size: int, goals: list[tuple[int, int]], episodes: int, seed: int = 0) -> dict:
        """Play ``episodes`` consecutive episodes on each goal with frozen weights, the context the
        last ``context`` steps; returns per-episode returns (goals, episodes) and the expert loads."""
        self.net.eval()
        rng = torch.Generator().manual_seed(seed)
        returns = np.zeros((len(goals), episodes))
        loads: dict[str, list[np.ndarray]] = {"token": [], "task": []}
        envs = [Darkroom(size, g, self.horizon) for g in goals]
        stream = np.zeros((len(goals), 0, 2 + N_ACTIONS + 1), np.float32)
        prev = np.zeros((len(goals), N_ACTIONS + 1), np.float32)
        for e in range(episodes):
            obs = np.stack([env.reset(seed=seed + e)[0] for env in envs])
            for _ in range(self.horizon):
                stream = np.concatenate([stream, np.column_stack([obs, prev])[:, None]], 1)[
                    :, -self.context :
                ]
                logits = self.net(torch.as_tensor(stream))[0][:, -1]
                actions = torch.multinomial(torch.softmax(logits, -1), 1, generator=rng).squeeze(1).numpy()
                prev = np.zeros_like(prev)
                prev[np.arange(len(goals)), actions] = 1
                for i, env in enumerate(envs):
                    obs[i], r, *_ = env.step(int(actions[i]))
                    prev[i, -1] = r
                    returns[i, e] += r
            moe = self.net.moe_layer()
            if moe is not None:  # expert loads (hard counts, noise off) on the episode's last context
                moe_in = self.net(torch.as_tensor(stream))[3]
                for name, part in (("token", moe.token_moe), ("task", moe.task_moe)):
                    loads[name].append(part(moe_in)[2].numpy())
        self.net.train()
        out = {"returns": returns}
        for name, rows in loads.items():
            if rows:
                load = np.sum(rows, 0)
                out[f"{name}_load_cv2"] = float(load.var(ddof=1) / load.mean() ** 2)
        return out
