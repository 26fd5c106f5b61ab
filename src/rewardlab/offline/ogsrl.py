"""OGSRL's two mechanisms, scaled down: an out-of-distribution guardian and constrained policy
optimisation inside it (Offline Guarded Safe RL for treatment, arXiv:2505.16242).

No code of the paper is public; what follows is read from its summary (docs/offline.md, "OGSRL")
and **every concrete choice below is ours**:

- The guardian is a polynomial sublevel set ``{x : p(x) <= 1}`` over (history, action) features.
  We take ``p`` = the empirical Christoffel function ``m(x)^T M^-1 m(x)`` (m = all monomials up to
  ``degree`` of the standardised features, M = their empirical second-moment matrix plus a ridge),
  divided by its ``level`` quantile on the fitting data. It is a sum of squares by construction
  (M^-1 is positive definite), one of the polynomial families the paper's sublevel sets allow.
- The treatment simulator (:class:`TreatmentSim`), the clinician behaviour policy, the linear
  least-squares dynamics model and the policy class (a sigmoid of a linear function) are ours.
- The paper solves its estimated constrained MDP with CPO; we use a Lagrangian (gradient ascent on
  the policy through the learnt model's rollouts, projected dual ascent on the two multipliers).
  Both constraints are the paper's: expected OOD cost <= a bound, physiological safety cost <= a
  budget.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

from rewardlab.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# The guardian


def monomial_exponents(dim: int, degree: int) -> np.ndarray:
    """Every exponent vector of total degree <= ``degree`` in ``dim`` variables, constant first."""
    if dim < 1 or degree < 1:
        raise ConfigError(f"monomials need dim >= 1 and degree >= 1 (got dim={dim}, degree={degree})")
    rows = [e for e in itertools.product(range(degree + 1), repeat=dim) if sum(e) <= degree]
    return np.array(sorted(rows, key=lambda e: (sum(e), tuple(-v for v in e))), dtype=np.int64)


def monomials(x: torch.Tensor, exponents: torch.Tensor) -> torch.Tensor:
    """m(x): (N, dim) -> (N, n_monomials), each column prod_j x_j ** e_j."""
    return torch.prod(x.unsqueeze(1) ** exponents.unsqueeze(0), dim=-1)


def christoffel(features: torch.Tensor, moment_inverse: torch.Tensor) -> torch.Tensor:
    """m^T M^-1 m per row of ``features`` (N, n_monomials): large where the data is thin."""
    return ((features @ moment_inverse) * features).sum(-1)


@dataclass
class Guardian:
    """``score(x) = christoffel(m(z)) / threshold`` with z = (x - mean) / std; x is inside iff
    score <= 1. ``threshold`` is the ``level`` quantile of the unscaled score on the fitting data."""

    mean: torch.Tensor
    std: torch.Tensor
    exponents: torch.Tensor
    moment_inverse: torch.Tensor
    threshold: float

    @classmethod
    def fit(cls, x: np.ndarray, degree: int = 4, level: float = 0.99, ridge: float = 1e-6) -> Guardian:
        x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ConfigError(f"the guardian fits (N >= 2, dim) points; got shape {tuple(x.shape)}")
        if not 0 < level < 1:
            raise ConfigError(f"level is a quantile in (0, 1); got {level}")
        mean, std = x.mean(0), x.std(0) + 1e-8
        exponents = torch.as_tensor(monomial_exponents(x.shape[1], degree))
        m = monomials((x - mean) / std, exponents)
        moments = m.T @ m / len(m)
        inverse = torch.linalg.inv(moments + ridge * torch.eye(len(moments), dtype=moments.dtype))
        threshold = float(torch.quantile(christoffel(m, inverse), level))
        return cls(mean, std, exponents, inverse, threshold)

    def score(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """p(x): <= 1 inside the support. Differentiable in x (float64 inside)."""
        x = torch.as_tensor(x).to(torch.float64)
        return christoffel(monomials((x - self.mean) / self.std, self.exponents), self.moment_inverse) / (
            self.threshold
        )

    def inside(self, x: torch.Tensor | np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return (self.score(x) <= 1.0).numpy()


def ood_cost(score: torch.Tensor) -> torch.Tensor:
    """The per-step OOD cost: relu(p(x) - 1), zero inside the sublevel set, growing outside it
    (a differentiable stand-in for the indicator 1[p(x) > 1]; ours)."""
    return torch.relu(score - 1.0)


# ---------------------------------------------------------------------------------------------
# A small treatment simulator (ours)


@dataclass
class TreatmentSim:
    """State (h, l): a hypotension severity h (0 = healthy) and a lactate level l; action: a dose
    d in [0, 1]. Reward -(h^2 + l^2) per step; safety cost relu(-h - overshoot) (blood pressure
    pushed past healthy). Doses above ``toxic_dose`` hurt (they weaken the effect on h and raise
    l): the clinician never gives them, so a model fit on the clinician's data cannot know."""

    horizon: int = 8
    noise: float = 0.02
    toxic_dose: float = 0.5
    overshoot: float = 0.2

    def initial_states(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.uniform(0.5, 1.5, n), rng.uniform(0.0, 0.5, n)], axis=1)

    def step(self, s: np.ndarray, d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, lac = s[:, 0], s[:, 1]
        toxic = np.maximum(d - self.toxic_dose, 0.0)
        h2 = 0.9 * h + 0.1 * lac - 0.8 * d + 3.0 * toxic**2 + self.noise * rng.standard_normal(len(h))
        l2 = 0.8 * lac + 0.1 * np.abs(h) + 1.5 * toxic + self.noise * rng.standard_normal(len(h))
        return np.stack([h2, l2], axis=1)

    def reward(self, s: np.ndarray) -> np.ndarray:
        return -(s[:, 0] ** 2 + s[:, 1] ** 2)

    def safety_cost(self, s: np.ndarray) -> np.ndarray:
        return np.maximum(-s[:, 0] - self.overshoot, 0.0)


def clinician(s: np.ndarray, rng: np.random.Generator, noise: float = 0.15) -> np.ndarray:
    """The behaviour policy: a cautious, noisy dose rising with h, never above 0.5 (ours)."""
    return np.clip(0.2 * s[:, 0] + 0.05 + noise * rng.standard_normal(len(s)), 0.0, 0.5)


def rollout(sim: TreatmentSim, policy, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` real episodes; ``policy(states, rng) -> doses``. Returns states (n, H+1, 2), doses
    (n, H), rewards (n, H) and safety costs (n, H)."""
    rng = np.random.default_rng(seed)
    s = sim.initial_states(n, rng)
    states, doses, rewards, costs = [s], [], [], []
    for _ in range(sim.horizon):
        d = np.clip(policy(s, rng), 0.0, 1.0)
        s = sim.step(s, d, rng)
        states.append(s)
        doses.append(d)
        rewards.append(sim.reward(s))
        costs.append(sim.safety_cost(s))
    return {"states": np.stack(states, 1), "doses": np.stack(doses, 1), "rewards": np.stack(rewards, 1),
            "costs": np.stack(costs, 1)}  # fmt: skip


def guardian_features(states: np.ndarray, doses: np.ndarray) -> np.ndarray:
    """(history, action) features of each decision: (h_t, l_t, h_{t-1}, d_t), h_{-1} = h_0 (ours)."""
    prev = np.concatenate([states[:, :1, 0], states[:, :-2, 0]], axis=1)
    return np.stack([states[:, :-1, 0], states[:, :-1, 1], prev, doses], axis=-1).reshape(-1, 4)


# ---------------------------------------------------------------------------------------------
# The estimated CMDP and its Lagrangian


def fit_linear_model(states: np.ndarray, doses: np.ndarray) -> torch.Tensor:
    """Least squares s' = W^T [h, l, d, 1] on the logged transitions (ours: the paper's model is over
    the history; a linear one is enough here and, fit on doses <= 0.5, blind to toxicity)."""
    x = np.concatenate([states[:, :-1].reshape(-1, 2), doses.reshape(-1, 1), np.ones((doses.size, 1))], 1)
    y = states[:, 1:].reshape(-1, 2)
    return torch.as_tensor(np.linalg.lstsq(x, y, rcond=None)[0])


class DosePolicy(torch.nn.Module):
    """d = sigmoid(w . [h, l, h_prev] + b)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1, dtype=torch.float64)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.constant_(self.linear.bias, -1.0)  # starts at d ~= 0.27, inside the data

    def forward(self, s: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(torch.cat([s, h_prev[:, None]], -1))).squeeze(-1)

    def act(self, s: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self(torch.as_tensor(s), torch.as_tensor(h_prev)).numpy()


def lagrangian(
    reward: torch.Tensor,
    costs: torch.Tensor,
    limits: torch.Tensor,
    multipliers: torch.Tensor,
) -> torch.Tensor:
    """The loss the policy minimises: -(J_r - sum_k lambda_k (J_ck - limit_k)), multipliers fixed."""
    return -(reward - (multipliers * (costs - limits)).sum())


def dual_step(
    multipliers: torch.Tensor, costs: torch.Tensor, limits: torch.Tensor, lr: float
) -> torch.Tensor:
    """Projected dual ascent: lambda <- max(0, lambda + lr (J_c - limit))."""
    return (multipliers + lr * (costs - limits)).clamp(min=0.0)


@dataclass
class ConstrainedResult:
    policy: DosePolicy
    multipliers: list[float]
    history: list[dict[str, float]] = field(default_factory=list)


def optimise(
    model: torch.Tensor,
    guardian: Guardian | None,
    start_states: np.ndarray,
    sim: TreatmentSim,
    *,
    ood_limit: float = 0.02,
    safety_limit: float = 0.02,
    margin: float = 0.5,
    iterations: int = 100,
    lr: float = 0.05,
    dual_lr: float = 5.0,
) -> ConstrainedResult:
    """Lagrangian policy optimisation in the learnt model: the mean per-step reward, OOD cost
    (guardian; skipped when ``guardian`` is None, the control arm) and safety cost of model rollouts
    from ``start_states`` are differentiated through the model into the policy (Adam), then the
    multipliers take a dual step. The model's costs are held to ``margin`` x each limit, so that its
    error leaves the real costs inside the limits (ours; the paper's bounds motivate a margin)."""
    policy = DosePolicy()
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    s0 = torch.as_tensor(start_states, dtype=torch.float64)
    limits = margin * torch.tensor([ood_limit, safety_limit], dtype=torch.float64)
    lam = torch.zeros(2, dtype=torch.float64)
    history = []
    for _ in range(iterations):
        s, h_prev = s0, s0[:, 0]
        rewards, oods, safeties = [], [], []
        for _ in range(sim.horizon):
            d = policy(s, h_prev)
            if guardian is not None:
                oods.append(ood_cost(guardian.score(torch.stack([s[:, 0], s[:, 1], h_prev, d], -1))).mean())
            h_prev = s[:, 0]
            s = torch.cat([s, d[:, None], torch.ones_like(d)[:, None]], -1) @ model
            rewards.append(-(s**2).sum(-1).mean())
            safeties.append(torch.relu(-s[:, 0] - sim.overshoot).mean())
        reward = torch.stack(rewards).mean()
        ood = torch.stack(oods).mean() if oods else torch.zeros((), dtype=torch.float64)
        costs = torch.stack([ood, torch.stack(safeties).mean()])
        loss = lagrangian(reward, costs, limits, lam)
        opt.zero_grad()
        loss.backward()
        opt.step()
        lam = dual_step(lam, costs.detach(), limits, dual_lr)
        history.append(
            {
                "reward": float(reward.detach()),
                "ood": float(costs[0].detach()),
                "safety": float(costs[1].detach()),
            }
        )
    return ConstrainedResult(policy, lam.tolist(), history)


def evaluate(
    sim: TreatmentSim, policy: DosePolicy, guardian: Guardian, n: int, seed: int
) -> dict[str, float]:
    """Real rollouts of ``policy``: mean return, mean per-step safety cost, and the fraction of its
    decisions outside the guardian's set, and their mean OOD cost (what the constraint bounds)."""
    h_prev: dict[str, np.ndarray] = {}

    def act(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        prev = h_prev.get("h", s[:, 0])
        h_prev["h"] = s[:, 0]
        return policy.act(s, prev)

    out = rollout(sim, act, n, seed)
    with torch.no_grad():
        score = guardian.score(guardian_features(out["states"], out["doses"]))
    return {"return": float(out["rewards"].sum(1).mean()), "safety_cost": float(out["costs"].mean()),
            "ood_cost": float(ood_cost(score).mean()), "ood_rate": float((score > 1).double().mean()),
            "mean_dose": float(out["doses"].mean())}  # fmt: skip
