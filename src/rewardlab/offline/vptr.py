"""V-PTR, scaled to a grid (Bhateja et al. 2023, "Robotic Offline RL from Internet Videos via
Value-Function Pre-Training"; seeds table row 8; docs/offline.md, "V-PTR").

V-PTR's recipe: (1) pre-train a representation phi(s) by ICVF (:mod:`rewardlab.offline.icvf`) on
*action-free* trajectories of other tasks, (2) learn the target task by conservative offline RL from
a few labelled trajectories on top of phi. The claim checked here: with the pre-trained phi the
target-task success rate is higher than with the same network trained from scratch.

Ours (the paper's robot and video data are out of reach): a ``size`` x ``size`` open grid whose
observation of a cell is a fixed random Gaussian vector of ``obs_dim`` numbers (no spatial structure
to read off, so the representation has to come from the dynamics); trajectories from a noisy greedy
controller (epsilon-random, else a move that shortens the Manhattan distance); ICVF's goal and
intent sampling as icvf_release's ``gc_dataset.py`` (30 % random state, 50 % a future state of the
same trajectory, 20 % the current one); the downstream learner is discrete CQL
(:func:`rewardlab.offline.discrete_cql.discrete_cql_penalty`, Double DQN targets) with a head on
phi, phi frozen (V-PTR also fine-tunes; frozen is the cleaner test of the representation).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardlab.errors import ConfigError
from rewardlab.offline.common import polyak_, td_target
from rewardlab.offline.darkroom import MOVES
from rewardlab.offline.discrete_cql import discrete_cql_penalty
from rewardlab.offline.icvf import MultilinearValue, goal_reward_and_mask, icvf_loss
from rewardlab.rl.common import mlp


@dataclass
class VPTRConfig:
    size: int = 7
    obs_dim: int = 64
    horizon: int = 30
    epsilon: float = 0.3  # the controller's random-action rate
    pretrain_trajectories: int = 300  # action-free, towards other goals
    labelled_trajectories: int = 5  # the target task's, with actions and rewards (V-PTR: "few")
    icvf_steps: int = 3000
    icvf_dim: int = 32
    icvf_hidden: tuple[int, ...] = (128, 128)
    icvf_learning_rate: float = 1e-3  # icvf_release, MLP encoders
    icvf_gamma: float = 0.99
    icvf_expectile: float = 0.9
    icvf_tau: float = 0.005  # target Polyak
    cql_steps: int = 2000
    cql_learning_rate: float = 1e-3
    cql_alpha: float = 1.0
    cql_gamma: float = 0.95
    target_update_interval: int = 100
    batch_size: int = 64
    eval_starts: int = 100
    seed: int = 0

    def validate(self) -> None:
        if self.size < 3:
            raise ConfigError(f"V-PTR grid size must be >= 3, got {self.size}")
        if self.labelled_trajectories < 1 or self.pretrain_trajectories < 1:
            raise ConfigError("V-PTR needs >= 1 labelled and >= 1 pre-training trajectory")


class Grid:
    """The open grid with random per-cell observations; cells are (x, y)."""

    def __init__(self, c: VPTRConfig, rng: np.random.Generator):
        self.c = c
        self.table = rng.standard_normal((c.size * c.size, c.obs_dim)).astype(np.float32)

    def obs(self, cells: np.ndarray) -> np.ndarray:
        cells = np.asarray(cells).reshape(-1, 2)
        return self.table[cells[:, 0] * self.c.size + cells[:, 1]]

    def move(self, cells: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.clip(cells + MOVES[actions], 0, self.c.size - 1)

    def controller(self, cell: np.ndarray, goal: np.ndarray, rng: np.random.Generator) -> int:
        if rng.random() < self.c.epsilon:
            return int(rng.integers(len(MOVES)))
        d = np.abs(goal - cell).sum()
        better = [a for a in range(4) if np.abs(goal - self.move(cell[None], np.array([a]))[0]).sum() < d]
        return int(rng.choice(better)) if better else 4

    def trajectory(self, goal: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(cells (T+1, 2), actions (T,)) from a random start until the goal or the horizon."""
        cell = rng.integers(0, self.c.size, 2)
        cells, actions = [cell], []
        for _ in range(self.c.horizon):
            if (cell == goal).all():
                break
            a = self.controller(cell, goal, rng)
            cell = self.move(cell[None], np.array([a]))[0]
            cells.append(cell)
            actions.append(a)
        return np.array(cells), np.array(actions, dtype=np.int64)


def goal_rows(
    rows: np.ndarray, traj_of: np.ndarray, ends: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """A goal (or intent) row for each sampled state row, icvf_release's mix: 30 % a uniformly random
    row of the ``n``, 50 % a future row of the same trajectory (uniform from the state itself to the
    trajectory's last row ``ends[traj]``), 20 % the state itself."""
    u = rng.random(len(rows))
    future = rows + (rng.random(len(rows)) * (ends[traj_of[rows]] - rows + 1)).astype(int)
    return np.where(u < 0.3, rng.integers(0, n, len(rows)), np.where(u < 0.8, future, rows))


def pretrain_icvf(grid: Grid, trajectories: list[np.ndarray], c: VPTRConfig) -> MultilinearValue:
    """ICVF on observation-only trajectories (cells (T+1, 2) each); returns the trained network."""
    rng = np.random.default_rng(c.seed)
    torch.manual_seed(c.seed)
    # rows: every state but each trajectory's last, with its next state; goals may be any state
    states = np.concatenate([t for t in trajectories])
    start = np.cumsum([0] + [len(t) for t in trajectories[:-1]])
    ends = start + np.array([len(t) - 1 for t in trajectories])
    traj_of = np.concatenate([np.full(len(t), i) for i, t in enumerate(trajectories)])
    usable = np.flatnonzero(np.arange(len(states)) < ends[traj_of])  # rows with a next state
    obs = torch.as_tensor(grid.obs(states))
    net = MultilinearValue(c.obs_dim, c.icvf_dim, c.icvf_hidden)
    target = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=c.icvf_learning_rate)
    for _ in range(c.icvf_steps):
        rows = rng.choice(usable, c.batch_size * 4)
        g = goal_rows(rows, traj_of, ends, len(states), rng)
        z = goal_rows(rows, traj_of, ends, len(states), rng)
        s, s2 = obs[rows], obs[rows + 1]
        r_g, m_g = goal_reward_and_mask(torch.as_tensor((states[rows] == states[g]).all(1)))
        r_z, m_z = goal_reward_and_mask(torch.as_tensor((states[rows] == states[z]).all(1)))
        with torch.no_grad():
            next_gz = target(s2, obs[g], obs[z])
            v_zz, next_zz = target(s, obs[z], obs[z]), target(s2, obs[z], obs[z])
        loss = icvf_loss(net(s, obs[g], obs[z]), next_gz, v_zz, next_zz, r_g, m_g, r_z, m_z,
                         gamma=c.icvf_gamma, expectile=c.icvf_expectile)  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
        polyak_(list(target.parameters()), list(net.parameters()), c.icvf_tau)
    return net


# ---------------------------------------------------------------------------------------------
# the target task: discrete CQL on a few labelled trajectories, on phi


class QOnEncoder(nn.Module):
    """Q(s, .) = head(encoder(s)); the encoder is phi (frozen) or a fresh MLP of the same shape."""

    def __init__(self, encoder: nn.Module, dim: int, frozen: bool):
        super().__init__()
        self.encoder, self.frozen = encoder, frozen
        if frozen:
            encoder.requires_grad_(False)
        self.head = mlp(dim, (64,), len(MOVES), "relu")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(obs))


def target_task_cql(grid: Grid, labelled: list[tuple[np.ndarray, np.ndarray]], goal: np.ndarray,
                    encoder: nn.Module, frozen: bool, c: VPTRConfig) -> float:  # fmt: skip
    """Discrete CQL on the labelled trajectories (reward 1 on reaching ``goal``, which ends the
    episode); returns the greedy success rate from ``eval_starts`` random start cells."""
    torch.manual_seed(c.seed)
    rng = np.random.default_rng(c.seed + 1)
    cells = np.concatenate([t[:-1] for t, _ in labelled])
    nexts = np.concatenate([t[1:] for t, _ in labelled])
    actions = torch.as_tensor(np.concatenate([a for _, a in labelled]))
    reached = torch.as_tensor((nexts == goal).all(1), dtype=torch.float32)  # reward and termination
    obs, next_obs = torch.as_tensor(grid.obs(cells)), torch.as_tensor(grid.obs(nexts))
    q = QOnEncoder(encoder, c.icvf_dim, frozen)
    q_target = copy.deepcopy(q).requires_grad_(False)
    opt = torch.optim.Adam([p for p in q.parameters() if p.requires_grad], lr=c.cql_learning_rate)
    for step in range(c.cql_steps):
        idx = torch.as_tensor(rng.integers(0, len(actions), c.batch_size))
        with torch.no_grad():
            best = q(next_obs[idx]).argmax(1, keepdim=True)
            y = td_target(
                reached[idx], reached[idx], q_target(next_obs[idx]).gather(1, best).squeeze(1), c.cql_gamma
            )
        values = q(obs[idx])
        loss = F.smooth_l1_loss(values.gather(1, actions[idx, None]).squeeze(1), y)
        loss = loss + c.cql_alpha * discrete_cql_penalty(values, actions[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % c.target_update_interval == 0:
            q_target.load_state_dict(q.state_dict())
    return success_rate(grid, lambda o: q(torch.as_tensor(o)).argmax(1).numpy(), goal, c)


@torch.no_grad()
def success_rate(grid: Grid, act, goal: np.ndarray, c: VPTRConfig) -> float:
    rng = np.random.default_rng(10_000 + c.seed)
    cells = rng.integers(0, c.size, (c.eval_starts, 2))
    done = (cells == goal).all(1)
    for _ in range(c.horizon):
        cells = np.where(done[:, None], cells, grid.move(cells, act(grid.obs(cells))))
        done |= (cells == goal).all(1)
    return float(done.mean())


def experiment(c: VPTRConfig) -> dict[str, float]:
    """One seed: the target goal is the grid's far corner; pre-training trajectories go to every
    other goal, without actions; the labelled ones to the target. Success with phi pre-trained
    (frozen), with the same encoder shape trained from scratch, and with a frozen random encoder."""
    c.validate()
    rng = np.random.default_rng(c.seed)
    grid = Grid(c, rng)
    goal = np.array([c.size - 1, c.size - 1])
    others = [np.array(g) for g in np.ndindex(c.size, c.size) if g != tuple(goal)]
    pretrain = [
        grid.trajectory(others[rng.integers(len(others))], rng)[0] for _ in range(c.pretrain_trajectories)
    ]
    labelled = [grid.trajectory(goal, rng) for _ in range(c.labelled_trajectories)]
    icvf = pretrain_icvf(grid, pretrain, c)
    phi = icvf.members[0]["phi"]
    fresh = lambda: mlp(c.obs_dim, c.icvf_hidden, c.icvf_dim, "relu")  # noqa: E731
    torch.manual_seed(c.seed)
    return {
        "pretrained": target_task_cql(grid, labelled, goal, phi, True, c),
        "scratch": target_task_cql(grid, labelled, goal, fresh(), False, c),
        "random_frozen": target_task_cql(grid, labelled, goal, fresh(), True, c),
        "labelled_steps": float(sum(len(a) for _, a in labelled)),
    }
