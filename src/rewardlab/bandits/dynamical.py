"""Dynamical linear bandit (Mussi, Metelli & Restelli 2022, "Dynamical Linear Bandits") and DynLin-UCB.

Environment (``DynLinEnvironment`` in github.com/marcomussi/DLB, ``dynlinucb/experimental/
environment.py``; seeds_table row 42, verified)::

    y_t     = 1^T (C x_t + D u_t + eps_t)        eps_t ~ N(0, sigma^2 I_m)   (observed reward)
    x_{t+1} = A x_t + B u_t + eta_t              eta_t ~ N(0, sigma^2 I_n)   (hidden state)

with spectral radius rho(A) < 1. Holding action u forever gives the steady-state reward
``<h, u>`` with the *Markov parameter* ``h = (D + C (I - A)^-1 B)^T 1`` (``MARKOV`` in the repo's
``scripts/main.py``). The oracle is the best constant action under the steady state, and the
repo's regret - which this env reports - is ``<h, u*> - <h, u_t>`` per round.

DynLin-UCB (``DynLinUCBAgent`` in ``dynlinucb/experimental/agents.py``) follows that code exactly:

* epochs: epoch m repeats one action for ``1 + floor(ln m / ln(1/rho))`` rounds (cumulative sums
  give ``t_estimate``); when rho < 1e-6 every round is its own epoch;
* the ridge estimate ``V <- V + u u^T``, ``b <- b + u y`` uses only the reward of the *last* round
  of each epoch, when the state has (nearly) reached the action's steady state - so ``h_hat``
  estimates the steady-state gain ``h``; the next action is chosen at ``t_estimate + 1``;
* optimism ``argmax <h_hat, u> + beta_t ||u||_{V^-1}`` with
  ``beta_t = c1 sqrt(lambda) + c2 / sqrt(lambda) ln(e (t+1)) + sqrt(2 sigma_bar^2 (ln T + d/2
  ln(1 + t U^2 / (d lambda))))``, ``c1 = Theta + Omega B Phi / (1 - rho)``,
  ``c2 = U Omega Phi (U B / (1 - rho) + U / (1 - rho))``, ``sigma_bar^2 = sigma^2 (1 + Omega^2
  Phi^2 / (1 - rho^2))``; the very first action is uniformly random.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from rewardlab.bandits.base import argmax_random_tie
from rewardlab.bandits.linear import sherman_morrison_update
from rewardlab.core.state import ARRAY, RNG, VALUE, Stateful
from rewardlab.errors import ConfigError

#: the 3-D synthetic instance of the DLB repository, ``config/testcase_synt_sigma0dot01.json``
DLB_3D = {
    "A": [[0.2, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.1]],
    "B": [[0.45, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.1]],
    "C": [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.1]],
    "D": [[0.0, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.1]],
    "max_daily_budget": 1.5,
    "max_camp_budget": 1.0,
    "min_camp_budget": 0.0,
    "noise_sigma": 0.01,
}


def budget_actions(p: int, max_total: float, max_each: float, min_each: float) -> np.ndarray:
    """The repo's discrete action set: fill ``p`` budgets greedily in every permutation order."""
    out = []
    for order in itertools.permutations(range(p)):
        budget = max_total - p * min_each
        u = np.full(p, min_each)
        for i in order:
            delta = min(budget, max_each - u[i])
            u[i] += delta
            budget -= delta
        out.append(u)
    return np.unique(np.array(out), axis=0)


def spectral_radius(a: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(a))))


def phi_bound(a: np.ndarray, powers: int = 1000) -> float:
    """``Phi(A) = max_i ||A^i||_2 / rho^i`` over i < 1000 (``spectr`` in ``dynlinucb/core/utils.py``)."""
    rho = spectral_radius(a)
    best, power = 0.0, np.eye(len(a))
    for i in range(1, powers):
        power = power @ a
        if rho == 0 or rho**i < 1e-300:  # A nilpotent, or the ratio under/overflows: stop
            break
        best = max(best, np.linalg.norm(power, 2) / rho**i)
    return best


def markov_parameter(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Steady-state gain ``h = (D + C (I - A)^-1 B)^T 1`` of a constant action."""
    return np.ones(len(c)) @ (d + c @ np.linalg.solve(np.eye(len(a)) - a, b))


@dataclass
class DynLinConstants:
    """Upper bounds DynLin-UCB is given (computed from the system as the repo's main.py does)."""

    rho: float  # spectral radius of A
    omega: float  # ||1^T C||_2
    theta: float  # ||1^T D||_2
    u_max: float  # max ||u||_2 over the action set
    b_norm: float  # ||B||_2
    phi: float  # Phi(A)
    sigma: float  # noise standard deviation


class DynamicalLinearBandit(Stateful):
    """Hidden-state linear system played with a finite action set; exact steady-state oracle."""

    summary = "dynamical linear bandit, hidden state x' = Ax + Bu (DLB repo 3-D instance)"
    contextual = True  # observe() shows the (fixed) action vectors, so linear policies can run
    state_fields = {"rng": RNG, "x": ARRAY}

    def __init__(self, a=None, b=None, c=None, d=None, actions=None, *, noise_std: float | None = None,
                 n_runs: int = 1, seed: int = 0):
        inst = DLB_3D
        self.a = np.asarray(inst["A"] if a is None else a, dtype=float)
        self.b = np.asarray(inst["B"] if b is None else b, dtype=float)
        self.c = np.asarray(inst["C"] if c is None else c, dtype=float)
        self.d = np.asarray(inst["D"] if d is None else d, dtype=float)
        n, p = self.b.shape
        m = self.c.shape[0]
        if self.a.shape != (n, n) or self.c.shape != (m, n) or self.d.shape != (m, p):
            raise ConfigError(f"inconsistent system shapes A{self.a.shape} B{self.b.shape} "
                              f"C{self.c.shape} D{self.d.shape}")
        rho = spectral_radius(self.a)
        if rho >= 1:
            raise ConfigError(f"the spectral radius of A must be < 1 (a stable system), got {rho:.4g}")
        if actions is None:
            actions = budget_actions(p, inst["max_daily_budget"], inst["max_camp_budget"],
                                     inst["min_camp_budget"])
        self.actions = np.asarray(actions, dtype=float)  # (K, p)
        self.n_arms, self.dim, self.n_runs = len(self.actions), p, n_runs
        self.noise_std = float(inst["noise_sigma"] if noise_std is None else noise_std)
        self.h = markov_parameter(self.a, self.b, self.c, self.d)
        self.steady_values = self.actions @ self.h  # (K,) steady-state reward of each action
        self.immediate_values = self.actions @ (np.ones(m) @ self.d)  # (K,) myopic reward
        self.best_arm = int(np.argmax(self.steady_values))
        self.myopic_arm = int(np.argmax(self.immediate_values))
        self.x = np.zeros((n_runs, n))
        self.rng = np.random.default_rng(seed)
        self._contexts = np.broadcast_to(self.actions, (n_runs, self.n_arms, p))

    def constants(self) -> DynLinConstants:
        ones = np.ones(len(self.c))
        return DynLinConstants(
            rho=spectral_radius(self.a), omega=float(np.linalg.norm(ones @ self.c)),
            theta=float(np.linalg.norm(ones @ self.d)),
            u_max=float(np.max(np.linalg.norm(self.actions, axis=1))),
            b_norm=float(np.linalg.norm(self.b, 2)), phi=phi_bound(self.a), sigma=self.noise_std)

    def observe(self) -> np.ndarray:
        return self._contexts

    def pull(self, arms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u = self.actions[arms]  # (R, p)
        m, n = self.c.shape
        out_noise = self.rng.standard_normal((self.n_runs, m)) * self.noise_std
        state_noise = self.rng.standard_normal((self.n_runs, n)) * self.noise_std
        y = (self.x @ self.c.T + u @ self.d.T + out_noise).sum(axis=1)
        self.x = self.x @ self.a.T + u @ self.b.T + state_noise
        return y, self.steady_values[self.best_arm] - self.steady_values[arms]


def dynlin_beta(t: int, horizon: int, dim: int, lam: float, k: DynLinConstants) -> float:
    """``beta_t`` of ``DynLinUCBAgent._beta_t_fun_dynlinucb`` (DLB repo), term by term."""
    one_minus_rho = 1.0 - k.rho
    x_max = k.u_max / one_minus_rho
    c1 = k.theta + k.omega * k.b_norm * k.phi / one_minus_rho
    c2 = k.u_max * k.omega * k.phi * (k.u_max * k.b_norm / one_minus_rho + x_max)
    sigma_bar_sq = k.sigma**2 * (1.0 + k.omega**2 * k.phi**2 / (1.0 - k.rho**2))
    return (c1 * math.sqrt(lam) + c2 / math.sqrt(lam) * math.log(math.e * (t + 1))
            + math.sqrt(2 * sigma_bar_sq * (math.log(horizon) + dim / 2
                                            * math.log(1 + t * k.u_max**2 / (dim * lam)))))


def epoch_length(m: int, rho: float) -> int:
    """Length of epoch m >= 1: ``1 + floor(ln m / ln(1/rho))``."""
    return 1 + math.floor(math.log(m) / math.log(1.0 / rho))


class DynLinUCB(Stateful):
    """DynLin-UCB over a finite action set ``actions`` (K, d), batched over R replicas."""

    state_fields = {"v_inv": ARRAY, "b": ARRAY, "t": VALUE, "m": VALUE, "next_estimate": VALUE, "last_estimate": VALUE,
                    "current": ARRAY, "rng": RNG}  # fmt: skip

    def __init__(self, actions: np.ndarray, constants: DynLinConstants, horizon: int, n_runs: int,
                 rng: np.random.Generator, *, lam: float = 1.0, beta_scale: float = 1.0,
                 rho_epsilon: float = 1e-6):
        self.actions = np.asarray(actions, dtype=float)
        self.n_arms, self.dim = self.actions.shape
        self.k, self.horizon, self.lam = constants, max(int(horizon), 2), lam
        # 1.0 = the paper's beta_t; smaller values trade the guarantee for less exploration, as
        # confidence widths are commonly tuned in bandit experiments
        self.beta_scale = beta_scale
        self.n_runs, self.rng = n_runs, rng
        self.every_round = constants.rho < rho_epsilon  # the code's ``spectral_rad_ub < epsilon``
        self.v_inv = np.broadcast_to(np.eye(self.dim) / lam, (n_runs, self.dim, self.dim)).copy()
        self.b = np.zeros((n_runs, self.dim))
        self.t = 0  # rounds played
        self.m = 1  # current epoch number
        self.next_estimate = 0 if self.every_round else 1  # t_estimate of the current epoch
        self.current = rng.integers(self.n_arms, size=n_runs)  # first action: uniform at random
        self.last_estimate = -2  # t_estimate of the previous epoch; a new action starts one round later

    def h_hat(self) -> np.ndarray:
        return np.einsum("rij,rj->ri", self.v_inv, self.b)

    def _optimistic_arms(self) -> np.ndarray:
        beta = self.beta_scale * dynlin_beta(self.t, self.horizon, self.dim, self.lam, self.k)
        width = np.einsum("kd,rde,ke->rk", self.actions, self.v_inv, self.actions)
        scores = self.h_hat() @ self.actions.T + beta * np.sqrt(np.maximum(width, 0.0))
        return np.argmax(scores, axis=1)  # the repo's np.argmax: first index on ties

    def select(self, contexts: object = None) -> np.ndarray:
        if self.t == self.last_estimate + 1:
            self.current = self._optimistic_arms()
        return self.current

    def update(self, arms: np.ndarray, rewards: np.ndarray, contexts: object = None) -> None:
        if self.t == self.next_estimate:
            u = self.actions[arms]
            self.v_inv = sherman_morrison_update(self.v_inv, u)
            self.b += rewards[:, None] * u
            self.last_estimate = self.t
            self.m += 1
            self.next_estimate += 1 if self.every_round else epoch_length(self.m, self.k.rho)
        self.t += 1

    def greedy(self, contexts: object = None) -> np.ndarray:
        return argmax_random_tie(self.h_hat() @ self.actions.T, self.rng)
