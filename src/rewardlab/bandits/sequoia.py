"""SEQUOIA: deep Q-learning for restless bandits with combinatorial actions, argmax by a MILP.

Xu, Wilder, Khalil & Tambe (2025), "Reinforcement learning for restless multi-armed bandits with
combinatorial actions" (SEQUOIA); code github.com/lily-x/combinatorial-rmab (seeds_table row 56,
verified): ``algos/dqn_estimator.py`` (DQN over ``[action vector, state]``, hidden [16, 32],
GAMMA 0.99, EPS 0.9 -> 0.05 with exponential decay 1000, AdamW lr 2.5e-4 (eps 1.5e-4, amsgrad),
ExponentialLR 0.9 per episode, SmoothL1 loss, gradient value clip 5, batch 32, TARGET_UPDATE_FREQ
300, reward = expected next-state reward as a cost, myopic pre-training) and ``model2mip/
net2mip.py`` (the ReLU network embedded in a MILP, input ordered (action vars, state features)).

The MILP (per hidden neuron, ``pre = W h_prev + b``)::

    x - s = pre,   x, s >= 0,   z in {0, 1},   x <= M z,   s <= M' (1 - z)

so ``x = relu(pre)``; the objective is the network's output, maximised over binary actions under
the budget ``sum a <= budget`` (plus any extra linear constraints). Departures, all stated:

* M per neuron from interval arithmetic instead of the constant 1e5: valid bounds that are much
  tighter, so HiGHS (``scipy.optimize.milp``; the paper uses Gurobi) cannot leak ``tolerance x
  1e5`` into the objective; neurons that are provably on or off get their binary fixed.
* ``mip_rel_gap = 0``: the solver proves optimality, so the argmax is exact (tested against
  brute-force enumeration).
* Uniform replay instead of torchrl's prioritized replay; Q-learning targets take the max over the
  enumerated feasible set (equal to the MILP argmax, by the test) because 32 MILPs per update are
  slow on a CPU.
* Myopic warm start: 3000 minibatches of random (state, action) pairs; the repo runs 300 epochs
  over its whole pre-training set, many minibatches each.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from torch import nn

from rewardlab.bandits.restless import RestlessBandit, myopic_gains
from rewardlab.core.state import ARRAY, OBJECT, RNG, VALUE, Stateful
from rewardlab.errors import RewardlabError

#: extra linear constraints on the action vector a: (coefficients (N,), lower, upper) each
Constraint = tuple[Any, float, float]


class QNetwork(nn.Module):
    """``Q(s, a) = MLP([a, s])`` with ReLU hidden layers (``DQN`` in dqn_estimator.py)."""

    def __init__(self, n_arms: int, hidden: tuple[int, ...] = (16, 32)):
        super().__init__()
        sizes = (2 * n_arms, *hidden)
        self.hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], 1)

    def forward(self, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        h = torch.cat([actions, states], dim=-1)
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.out(h).squeeze(-1)

    def numpy_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(W, b), ...] as float64 arrays, hidden layers then the output layer."""
        return [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
                for m in [*self.hidden, self.out]]


def q_values_numpy(layers: list[tuple[np.ndarray, np.ndarray]], actions: np.ndarray,
                   state_features: np.ndarray) -> np.ndarray:
    """Q of each action row (B, N) for one state, in float64 (the brute-force reference)."""
    h = np.concatenate([actions, np.broadcast_to(state_features, actions.shape)], axis=1)
    for w, b in layers[:-1]:
        h = np.maximum(h @ w.T + b, 0.0)
    w, b = layers[-1]
    return (h @ w.T + b)[:, 0]


def describe_constraints(budget: int, constraints: list[Constraint]) -> str:
    parts = [f"sum(a) <= {budget}"]
    for coeffs, lo, hi in constraints:
        parts.append(f"{lo} <= {np.asarray(coeffs).tolist()} . a <= {hi}")
    return "{" + "; ".join(parts) + "}"


def feasible_actions(n_arms: int, budget: int, constraints: list[Constraint] = (),
                     limit: int = 200_000) -> np.ndarray:
    """All binary action vectors with ``sum a <= budget`` that satisfy ``constraints`` (B, N)."""
    count = sum(math.comb(n_arms, j) for j in range(budget + 1))
    if count > limit:
        raise RewardlabError(f"{count} actions with {n_arms} arms and budget {budget}: too many to "
                             f"enumerate (limit {limit}); SEQUOIA here is for small instances")
    rows = []
    for j in range(budget + 1):
        for idx in itertools.combinations(range(n_arms), j):
            a = np.zeros(n_arms)
            a[list(idx)] = 1.0
            rows.append(a)
    actions = np.array(rows)
    keep = np.ones(len(actions), dtype=bool)
    for coeffs, lo, hi in constraints:
        v = actions @ np.asarray(coeffs, dtype=float)
        keep &= (v >= lo - 1e-9) & (v <= hi + 1e-9)
    if not keep.any():
        raise RewardlabError(f"no action satisfies the constraints {describe_constraints(budget, constraints)}")
    return actions[keep]


def brute_force_argmax(layers, state_features: np.ndarray, n_arms: int, budget: int,
                       constraints: list[Constraint] = ()) -> tuple[np.ndarray, float]:
    actions = feasible_actions(n_arms, budget, constraints)
    q = q_values_numpy(layers, actions, state_features)
    best = int(np.argmax(q))
    return actions[best], float(q[best])


def interval_bounds(layers, state_features: np.ndarray, n_arms: int,
                    budget: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pre-activation bounds (L, U) of every hidden layer, state fixed, actions binary with
    ``sum a <= budget``: the first layer adds at most the ``budget`` largest (smallest) action
    weights of each neuron; deeper layers use interval arithmetic."""
    (w1, b1), rest = layers[0], layers[1:-1]
    const = w1[:, n_arms:] @ state_features + b1
    w_act = np.sort(w1[:, :n_arms], axis=1)  # ascending, per neuron
    k = min(budget, n_arms)
    pre_lo = const + np.minimum(w_act[:, :k], 0.0).sum(axis=1)
    pre_hi = const + np.maximum(w_act[:, n_arms - k:], 0.0).sum(axis=1)
    out = [(pre_lo, pre_hi)]
    for w, b in rest:
        lo, hi = np.maximum(pre_lo, 0.0), np.maximum(pre_hi, 0.0)
        wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
        pre_lo, pre_hi = wp @ lo + wn @ hi + b, wp @ hi + wn @ lo + b
        out.append((pre_lo, pre_hi))
    return out


def _lp_bounds(a: np.ndarray, lo_c, hi_c, lb, ub, prev: slice, w: np.ndarray, const: np.ndarray,
               pre_lo: np.ndarray, pre_hi: np.ndarray, margin: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each ``w_j . v[prev] + const_j`` over the LP relaxation ``lo_c <= a v <= hi_c``,
    intersected with the interval bounds (kept where an LP fails)."""
    lo_c, hi_c = np.asarray(lo_c), np.asarray(hi_c)
    up, down = np.isfinite(hi_c), np.isfinite(lo_c)
    a_ub = np.concatenate([a[up], -a[down]])
    b_ub = np.concatenate([hi_c[up], -lo_c[down]])
    new_lo, new_hi = pre_lo.copy(), pre_hi.copy()
    for j in range(len(w)):
        c = np.zeros(a.shape[1])
        c[prev] = w[j]
        for sign in (1.0, -1.0):
            res = linprog(sign * c, A_ub=a_ub, b_ub=b_ub, bounds=np.stack([lb, ub], axis=1), method="highs")
            if res.status != 0:
                continue
            value = sign * res.fun + const[j]
            if sign > 0:
                new_lo[j] = max(new_lo[j], value - margin)
            else:
                new_hi[j] = min(new_hi[j], value + margin)
    return new_lo, new_hi


def milp_argmax(layers, state_features: np.ndarray, n_arms: int, budget: int,
                constraints: list[Constraint] = (), time_limit: float = 60.0,
                tighten: bool = True) -> tuple[np.ndarray, float]:
    """``argmax_a Q(s, a)`` over binary a with ``sum a <= budget`` and ``constraints``, by MILP.

    Variables: [a (N) | for each hidden layer: x (H), z (H)]. The paper's slack ``s = x - pre``
    is substituted out, which leaves the same feasible set in fewer variables::

        x >= pre,   x <= pre - L (1 - z),   x <= U z,   x >= 0,   z in {0, 1}

    With ``tighten``, the bounds (L, U) of deeper layers come from the LP relaxation of the layers
    before them (optimisation-based bound tightening), which cuts the branch-and-bound tree of
    HiGHS several-fold on the paper's [16, 32] network. Returns (a, Q(s, a)), Q in float64.
    """
    bounds_per_layer = interval_bounds(layers, state_features, n_arms, budget)
    sizes = [w.shape[0] for w, _ in layers[:-1]]
    n_var = n_arms + 2 * sum(sizes)
    lb, ub = np.zeros(n_var), np.ones(n_var)
    integrality = np.zeros(n_var)
    integrality[:n_arms] = 1
    rows, lo_c, hi_c = [], [], []

    def add(row: np.ndarray, lo: float, hi: float) -> None:
        rows.append(row)
        lo_c.append(lo)
        hi_c.append(hi)

    budget_row = np.zeros(n_var)
    budget_row[:n_arms] = 1.0
    add(budget_row, 0.0, budget)
    for coeffs, lo, hi in constraints:
        row = np.zeros(n_var)
        row[:n_arms] = np.asarray(coeffs, dtype=float)
        add(row, lo, hi)

    prev = slice(0, n_arms)  # the variables feeding this layer
    offset = n_arms
    for layer_idx, ((w, b), (pre_lo, pre_hi)) in enumerate(zip(layers[:-1], bounds_per_layer)):
        h = w.shape[0]
        xs, zs = slice(offset, offset + h), slice(offset + h, offset + 2 * h)
        const, w_prev = b, w
        if layer_idx == 0:  # state features are constants: fold them into the bias
            const, w_prev = b + w[:, n_arms:] @ state_features, w[:, :n_arms]
        elif tighten:
            pre_lo, pre_hi = _lp_bounds(np.array(rows)[:, :offset], lo_c, hi_c, lb[:offset], ub[:offset],
                                        prev, w_prev, const, pre_lo, pre_hi)
        ub[xs] = np.maximum(pre_hi, 0.0)
        lb[zs] = (pre_lo >= 0).astype(float)  # provably active: z = 1
        ub[zs] = (pre_hi > 0).astype(float)  # provably inactive: z = 0
        integrality[zs] = 1
        for j in range(h):
            m_up, m_down = max(pre_hi[j], 0.0), max(-pre_lo[j], 0.0)
            row = np.zeros(n_var)  # x_j - W_j . prev >= const_j            (x >= pre)
            row[xs.start + j] = 1.0
            row[prev] = -w_prev[j]
            add(row, const[j], np.inf)
            row = row.copy()  # x_j - W_j . prev + M' z_j <= const_j + M'  (x <= pre + M'(1 - z))
            row[zs.start + j] = m_down
            add(row, -np.inf, const[j] + m_down)
            row = np.zeros(n_var)  # x_j - M z_j <= 0                      (x <= M z)
            row[xs.start + j], row[zs.start + j] = 1.0, -m_up
            add(row, -np.inf, 0.0)
        prev = xs
        offset += 2 * h
    w_out, b_out = layers[-1]
    c = np.zeros(n_var)
    c[prev] = -w_out[0]  # milp minimises
    result = milp(c, constraints=LinearConstraint(np.array(rows), lo_c, hi_c), integrality=integrality,
                  bounds=Bounds(lb, ub), options={"mip_rel_gap": 0.0, "time_limit": time_limit})
    if result.status == 2:  # infeasible
        raise RewardlabError(f"the action MILP is infeasible: no action satisfies the constraints "
                             f"{describe_constraints(budget, list(constraints))}")
    if result.x is None:
        raise RewardlabError(f"the action MILP failed ({result.message}) for constraints "
                             f"{describe_constraints(budget, list(constraints))}")
    action = np.round(result.x[:n_arms]) + 0.0  # + 0.0 turns -0.0 into 0.0
    return action, float(q_values_numpy(layers, action[None], state_features)[0])


class Sequoia(Stateful):
    """DQN agent on a :class:`RestlessBandit` (one replica) choosing actions by :func:`milp_argmax`."""

    state_fields = {
        "q": OBJECT, "target": OBJECT, "optimizer": OBJECT, "scheduler": OBJECT, "rng": RNG, "buf_s": ARRAY,
        "buf_a": ARRAY, "buf_r": ARRAY, "buf_s2": ARRAY, "buf_len": VALUE, "buf_pos": VALUE, "t": VALUE,
        "_pending": VALUE,
    }  # fmt: skip

    def __init__(self, env: RestlessBandit, rng: np.random.Generator, *, hidden: tuple[int, ...] = (16, 32),
                 gamma: float = 0.99, lr: float = 2.5e-4, adam_eps: float = 1.5e-4, eps_start: float = 0.9,
                 eps_end: float = 0.05, eps_decay: float = 1000.0, batch_size: int = 32,
                 target_update: int = 300, lr_decay: float = 0.9, lr_decay_every: int = 20,
                 buffer_size: int = 10_000, gradient_clip: float = 5.0, warm_start_updates: int = 3000,
                 constraints: list[Constraint] = (), action_solver: str = "milp"):
        if env.n_runs != 1:
            raise RewardlabError(f"SEQUOIA trains one network per run; got n_runs={env.n_runs}")
        self.env, self.rng = env, rng
        self.n_arms, self.budget = env.n_arms, env.budget
        self.constraints = list(constraints)
        self.action_solver = action_solver
        self._argmax_cache: dict[bytes, np.ndarray] = {}  # state -> argmax while the network is unchanged
        self.gamma, self.batch_size, self.target_update = gamma, batch_size, target_update
        self.eps_start, self.eps_end, self.eps_decay = eps_start, eps_end, eps_decay
        self.lr_decay_every, self.gradient_clip = lr_decay_every, gradient_clip
        self.actions = feasible_actions(self.n_arms, self.budget, self.constraints)  # also checks feasibility
        self._actions_t = torch.as_tensor(self.actions, dtype=torch.float32)
        torch_seed = int(rng.integers(2**31))  # all later randomness comes from the numpy rng
        with torch.random.fork_rng():
            torch.manual_seed(torch_seed)
            self.q = QNetwork(self.n_arms, hidden)
        self.target = QNetwork(self.n_arms, hidden)
        self.optimizer = torch.optim.AdamW(self.q.parameters(), lr=lr, eps=adam_eps, amsgrad=True)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=lr_decay)
        self.buffer_size = buffer_size
        self.buf_s = np.zeros((buffer_size, self.n_arms))
        self.buf_a = np.zeros((buffer_size, self.n_arms))
        self.buf_r = np.zeros(buffer_size)
        self.buf_s2 = np.zeros((buffer_size, self.n_arms))
        self.buf_len = self.buf_pos = 0
        self.t = 0
        self.last_loss = float("nan")
        self._pending: tuple[np.ndarray, np.ndarray] | None = None
        self._myopic_warm_start(warm_start_updates)
        self.target.load_state_dict(self.q.state_dict())

    def features(self, states: np.ndarray) -> np.ndarray:
        """State features: each arm's state scaled to [0, 1]."""
        return np.asarray(states, dtype=float) / max(self.env.n_states - 1, 1)

    def _myopic_warm_start(self, updates: int) -> None:
        """Regress Q on the expected next-round reward of random (state, action) pairs
        (``pretrain_model_myopic`` in dqn_estimator.py)."""
        if updates <= 0:
            return
        p, r = self.env.transitions, self.env.rewards
        passive_next = np.einsum("ist,it->is", p[:, 0], r)  # expected next reward if passive
        gain = myopic_gains(p, r)
        arms = np.arange(self.n_arms)
        opt = torch.optim.AdamW(self.q.parameters(), lr=1e-2, eps=1.5e-4, amsgrad=True)
        for _ in range(updates):
            states = self.rng.integers(self.env.n_states, size=(self.batch_size, self.n_arms))
            acts = self.actions[self.rng.integers(len(self.actions), size=self.batch_size)]
            target = (passive_next[arms, states] + acts * gain[arms, states]).sum(axis=1)
            pred = self.q(torch.as_tensor(acts, dtype=torch.float32),
                          torch.as_tensor(self.features(states), dtype=torch.float32))
            loss = nn.functional.mse_loss(pred, torch.as_tensor(target, dtype=torch.float32))
            opt.zero_grad()
            loss.backward()
            opt.step()
        # Seed the replay buffer with model transitions of random (state, action) pairs, up to 10 %
        # of its size - "only fill 10% of storage to avoid flooding with bad samples" (the repo).
        cum = np.cumsum(p, axis=-1)
        for _ in range(self.buffer_size // 10):
            state = self.rng.integers(self.env.n_states, size=self.n_arms)
            act = self.actions[self.rng.integers(len(self.actions))]
            u = self.rng.random((self.n_arms, 1))
            nxt = np.minimum((u > cum[arms, act.astype(int), state]).sum(axis=-1), self.env.n_states - 1)
            i = self.buf_pos
            self.buf_s[i], self.buf_a[i], self.buf_s2[i] = state, act, nxt
            self.buf_r[i] = (passive_next[arms, state] + act * gain[arms, state]).sum()
            self.buf_pos, self.buf_len = (i + 1) % self.buffer_size, min(self.buf_len + 1, self.buffer_size)

    def epsilon(self) -> float:
        return self.eps_end + (self.eps_start - self.eps_end) * math.exp(-self.t / self.eps_decay)

    def greedy(self, states: np.ndarray) -> np.ndarray:
        key = np.asarray(states[0]).tobytes()
        if key not in self._argmax_cache:  # the repo memoizes solves the same way (Memoizer)
            layers, feats = self.q.numpy_layers(), self.features(states[0])
            if self.action_solver == "milp":
                action, _ = milp_argmax(layers, feats, self.n_arms, self.budget, self.constraints)
            else:
                action = self.actions[int(np.argmax(q_values_numpy(layers, self.actions, feats)))]
            self._argmax_cache[key] = action
        return self._argmax_cache[key][None].astype(bool)

    def select(self, states: np.ndarray) -> np.ndarray:
        if self.rng.random() < self.epsilon():
            return self.actions[self.rng.integers(len(self.actions))][None].astype(bool)
        return self.greedy(states)

    def update(self, active: np.ndarray, rewards: np.ndarray, states: np.ndarray) -> None:
        # The transition (s_{t-1}, a_{t-1}) -> s_t completes one round later. Its reward is the
        # expected reward of the next state given (s_{t-1}, a_{t-1}) under the known model - the
        # repo's info["next_state_expected"] (used as a cost) - rather than the noisy realised r(s_t).
        if self._pending is not None:
            s_prev, a_prev = self._pending
            arms = np.arange(self.n_arms)
            expected = float(np.einsum("it,it->", self.env.transitions[arms, a_prev.astype(int), s_prev.astype(int)],
                                       self.env.rewards))
            i = self.buf_pos
            self.buf_s[i], self.buf_a[i], self.buf_r[i], self.buf_s2[i] = s_prev, a_prev, expected, states[0]
            self.buf_pos = (i + 1) % self.buffer_size
            self.buf_len = min(self.buf_len + 1, self.buffer_size)
        self._pending = (np.asarray(states[0], dtype=float).copy(), np.asarray(active[0], dtype=float))
        self.t += 1
        if self.buf_len >= self.batch_size:
            self._optimize()
        if self.t % self.target_update == 0:
            self.target.load_state_dict(self.q.state_dict())
        if self.lr_decay_every and self.t % self.lr_decay_every == 0 and self.buf_len >= self.batch_size:
            self.scheduler.step()

    def _optimize(self) -> None:
        idx = self.rng.integers(self.buf_len, size=self.batch_size)
        s = torch.as_tensor(self.features(self.buf_s[idx]), dtype=torch.float32)
        a = torch.as_tensor(self.buf_a[idx], dtype=torch.float32)
        r = torch.as_tensor(self.buf_r[idx], dtype=torch.float32)
        s2 = torch.as_tensor(self.features(self.buf_s2[idx]), dtype=torch.float32)
        with torch.no_grad():
            n_act = len(self._actions_t)
            q_next = self.target(self._actions_t.repeat(self.batch_size, 1), s2.repeat_interleave(n_act, 0))
            target = r + self.gamma * q_next.view(self.batch_size, n_act).max(dim=1).values
        loss = nn.functional.smooth_l1_loss(self.q(a, s), target)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(self.q.parameters(), self.gradient_clip)
        self.optimizer.step()
        self._argmax_cache.clear()
        self.last_loss = loss.item()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._argmax_cache.clear()  # memoized argmaxes of the network before the restore

    def parameters_finite(self) -> str | None:
        for name, p in self.q.named_parameters():
            if not torch.isfinite(p).all():
                return f"q.{name}"
        return None
