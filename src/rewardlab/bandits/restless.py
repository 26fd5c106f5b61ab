"""Restless multi-armed bandits: the environment, the Whittle index policy and the myopic baseline.

Each of N arms is a Markov chain on S states with a *passive* (action 0) and an *active*
(action 1) transition matrix; at most ``budget`` arms are active per round; every arm pays
``rewards[i, s]`` for its current state whether acted on or not (Whittle 1988, "Restless bandits:
activity allocation in a changing world").

* Whittle index (Whittle 1988; computed as in Glazebrook et al. and the RMAB literature, e.g.
  Mate et al. 2020 "Collapsing bandits"): for arm i in state s, the *subsidy* lambda paid for
  staying passive that makes both actions optimal in state s of the arm's two-action MDP. Found
  by bisection on lambda; each MDP is solved exactly by policy iteration (discount ``gamma``).
  The policy activates the ``budget`` arms with the largest index of their current state.
* Myopic: activates the arms with the largest one-step gain in expected next-round reward,
  ``sum_s' (P_active - P_passive)[s, s'] r(s')``.
"""

from __future__ import annotations

import itertools

import numpy as np

from rewardlab.core.state import ARRAY, RNG, Stateful
from rewardlab.errors import ConfigError


def check_transitions(transitions: np.ndarray, atol: float = 1e-8) -> np.ndarray:
    """Validate (N, 2, S, S) row-stochastic matrices; the error names the arm, action, row and sum."""
    p = np.asarray(transitions, dtype=float)
    if p.ndim != 4 or p.shape[1] != 2 or p.shape[2] != p.shape[3]:
        raise ConfigError(f"transitions must have shape (arms, 2, states, states), got {p.shape}")
    bad = np.argwhere((p < -atol).any(axis=-1) | (np.abs(p.sum(axis=-1) - 1.0) > atol))
    if len(bad):
        i, a, s = bad[0]
        raise ConfigError(
            f"transition matrix of arm {i}, action {'active' if a else 'passive'} is not stochastic: "
            f"row {s} = {p[i, a, s].tolist()} sums to {p[i, a, s].sum():.6g} (rows must be "
            "non-negative and sum to 1)")
    return p


def two_type_instance(n_arms: int, states: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """An instance where Whittle and myopic disagree (half the arms of each type).

    Type "flash" (even arms): acting lifts a bad arm to good with prob. 0.9, but good lasts ~1 round.
    Type "lasting" (odd arms): acting lifts with prob. 0.5 only, but a good arm stays good with
    prob. 0.95 when left alone. Myopic prefers flash arms (one-step gain 0.9 > 0.5); the long-run
    value favours lasting ones, which the Whittle index sees.
    """
    if states != 2:
        raise ConfigError(f"the two-type restless instance has 2 states, got states={states}")
    p = np.zeros((n_arms, 2, 2, 2))
    flash = {0: [[1.0, 0.0], [0.8, 0.2]], 1: [[0.1, 0.9], [0.7, 0.3]]}
    lasting = {0: [[1.0, 0.0], [0.05, 0.95]], 1: [[0.5, 0.5], [0.01, 0.99]]}
    for i in range(n_arms):
        kind = flash if i % 2 == 0 else lasting
        p[i, 0], p[i, 1] = kind[0], kind[1]
    rewards = np.tile([0.0, 1.0], (n_arms, 1))
    return p, rewards


def random_instance(n_arms: int, states: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Dirichlet(1) transition rows; acting shifts mass towards higher (better) states."""
    p = rng.dirichlet(np.ones(states), size=(n_arms, 2, states))
    order = np.sort(p[:, 1], axis=-1)  # active rows: the largest masses on the best states
    p[:, 1] = 0.5 * p[:, 1] + 0.5 * order
    rewards = np.tile(np.linspace(0.0, 1.0, states), (n_arms, 1))
    return p, rewards


class RestlessBandit(Stateful):
    """N Markov-chain arms, at most ``budget`` active per round; reward = sum of state rewards."""

    summary = "restless bandit: N Markov-chain arms, at most budget active (arms, budget, states)"
    contextual = False
    state_fields = {"rng": RNG, "states": ARRAY}

    def __init__(self, transitions: np.ndarray, rewards: np.ndarray, budget: int, *, n_runs: int = 1,
                 seed: int = 0):
        self.transitions = check_transitions(transitions)
        self.n_arms, _, self.n_states, _ = self.transitions.shape
        self.rewards = np.asarray(rewards, dtype=float)
        if self.rewards.shape != (self.n_arms, self.n_states):
            raise ConfigError(f"rewards must have shape (arms={self.n_arms}, states={self.n_states}), "
                              f"got {self.rewards.shape}")
        if not 0 < budget <= self.n_arms:
            raise ConfigError(f"budget={budget} must be between 1 and the number of arms ({self.n_arms})")
        self.budget, self.n_runs = int(budget), n_runs
        self.rng = np.random.default_rng(seed)
        self.states = self.rng.integers(self.n_states, size=(n_runs, self.n_arms))
        self._cum = np.cumsum(self.transitions, axis=-1)
        self._arms = np.arange(self.n_arms)

    def observe(self) -> np.ndarray:
        """(R, N) current state of every arm (fully observed)."""
        return self.states

    def pull(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Collect this round's rewards, then move every arm; ``active`` is an (R, N) bool mask."""
        active = np.asarray(active, dtype=bool)
        used = active.sum(axis=1)
        if np.any(used > self.budget):
            raise ConfigError(f"{int(used.max())} arms activated but budget={self.budget}")
        reward = self.rewards[self._arms, self.states].sum(axis=1)
        cum = self._cum[self._arms, active.astype(int), self.states]  # (R, N, S)
        u = self.rng.random((self.n_runs, self.n_arms, 1))
        self.states = np.minimum((u > cum).sum(axis=-1), self.n_states - 1)
        return reward, np.zeros(self.n_runs)  # no closed-form oracle: regret is not defined here


def optimal_average_reward(transitions: np.ndarray, rewards: np.ndarray, budget: int, *,
                           max_joint_states: int = 256, tol: float = 1e-10,
                           max_iter: int = 100_000) -> float:
    """The exact optimal long-run average reward of a small restless bandit (the oracle).

    Relative value iteration on the joint MDP (states S^N, actions: every set of at most
    ``budget`` arms), with the aperiodicity transform ``P <- (P + I) / 2``, which keeps every policy's
    stationary distribution, hence its gain (Puterman 1994, Sec. 8.5.4). The joint matrices take
    ``actions x states^2`` floats, so instances above ``max_joint_states`` are refused.
    """
    p = check_transitions(transitions)
    n, _, s, _ = p.shape
    if s**n > max_joint_states:
        raise ConfigError(f"{s}^{n} = {s**n} joint states exceed max_joint_states={max_joint_states}; "
                          "the exact oracle is for small instances")
    states = np.array(list(itertools.product(range(s), repeat=n)))  # (S^N, N), row-major like np.kron
    reward = rewards[np.arange(n), states].sum(axis=1)
    actions = [a for j in range(budget + 1) for a in itertools.combinations(range(n), j)]
    joint = []
    for act in actions:
        mask = np.zeros(n, dtype=int)
        mask[list(act)] = 1
        m = np.ones((1, 1))
        for i in range(n):
            m = np.kron(m, p[i, mask[i]])
        joint.append(0.5 * (m + np.eye(len(m))))
    joint = np.stack(joint)  # (A, S^N, S^N)
    h = np.zeros(len(states))
    for _ in range(max_iter):
        v = (reward[None, :] + joint @ h).max(axis=0)
        diff = v - h  # converges to the gain g in every state
        h = v - v[0]
        if np.ptp(diff) < tol:
            break
    return float(diff.mean())


def top_k_mask(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(R, N) bool mask of the k largest scores per row, ties broken at random."""
    jitter = scores + 1e-9 * rng.random(scores.shape)
    idx = np.argpartition(-jitter, k - 1, axis=1)[:, :k]
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, idx, True, axis=1)
    return mask


def solve_two_action_mdps(p: np.ndarray, r: np.ndarray, subsidy: np.ndarray, gamma: float,
                          max_iter: int = 200) -> np.ndarray:
    """Q-values (B, 2, S) of B two-action MDPs by policy iteration.

    ``p`` (B, 2, S, S), ``r`` (B, S) state reward, ``subsidy`` (B,) added to the passive action.
    """
    n, _, s, _ = p.shape
    eye = np.eye(s)
    rows = np.arange(s)
    policy = np.zeros((n, s), dtype=int)
    for _ in range(max_iter):
        p_pi = p[np.arange(n)[:, None], policy, rows]  # (B, S, S)
        r_pi = r + subsidy[:, None] * (policy == 0)
        v = np.linalg.solve(eye - gamma * p_pi, r_pi[..., None])[..., 0]
        q = r[:, None, :] + gamma * np.einsum("bast,bt->bas", p, v)
        q[:, 0] += subsidy[:, None]
        new = np.argmax(q, axis=1)  # ties -> passive, keeping the iteration from cycling
        if np.array_equal(new, policy):
            break
        policy = new
    return q


def whittle_indices(transitions: np.ndarray, rewards: np.ndarray, gamma: float = 0.99,
                    iterations: int = 50) -> np.ndarray:
    """(N, S) Whittle index of every arm and state by bisection on the passive subsidy."""
    n, _, s, _ = transitions.shape
    p = np.repeat(transitions, s, axis=0)  # one MDP per (arm, state)
    r = np.repeat(rewards, s, axis=0)
    target = np.tile(np.arange(s), n)
    span = (rewards.max() - rewards.min() + 1.0) / (1.0 - gamma)
    lo, hi = np.full(n * s, -span), np.full(n * s, span)
    rows = np.arange(n * s)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        q = solve_two_action_mdps(p, r, mid, gamma)
        active_better = q[rows, 1, target] > q[rows, 0, target]
        lo = np.where(active_better, mid, lo)  # subsidy too small: raise it
        hi = np.where(active_better, hi, mid)
    return (0.5 * (lo + hi)).reshape(n, s)


def myopic_gains(transitions: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """(N, S) one-step gain in expected next reward from acting on arm i in state s."""
    return np.einsum("ist,it->is", transitions[:, 1] - transitions[:, 0], rewards)


class IndexPolicy(Stateful):
    """Activate the ``budget`` arms with the largest precomputed index of their current state."""

    state_fields = {"rng": RNG}

    def __init__(self, index: np.ndarray, budget: int, rng: np.random.Generator):
        self.index, self.budget, self.rng = np.asarray(index, dtype=float), budget, rng
        self._arms = np.arange(self.index.shape[0])

    def select(self, states: np.ndarray) -> np.ndarray:
        return top_k_mask(self.index[self._arms, states], self.budget, self.rng)

    greedy = select

    def update(self, active: np.ndarray, rewards: np.ndarray, states: np.ndarray) -> None:
        """Index policies plan from the known model and do not learn."""


class WhittleIndex(IndexPolicy):
    def __init__(self, env: RestlessBandit, rng: np.random.Generator, gamma: float = 0.99):
        super().__init__(whittle_indices(env.transitions, env.rewards, gamma), env.budget, rng)


class Myopic(IndexPolicy):
    def __init__(self, env: RestlessBandit, rng: np.random.Generator):
        super().__init__(myopic_gains(env.transitions, env.rewards), env.budget, rng)
