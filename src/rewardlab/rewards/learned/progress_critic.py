"""A pairwise progress critic (VLAC, InternRobotics/VLAC, arXiv 2509.15937), scaled down to vectors.

``critic(o_i, o_j, goal) -> delta in [-1, 1]``: how much closer ``o_j`` is to the goal than ``o_i``,
as a fraction of the progress still left at ``o_i``. Trained with mean squared error on pairs cut
from successful trajectories, ``delta = (j - i) / (T - i)`` for ``i < j`` (the label the research
note proposes; VLAC's exact formula is not public), with the two negatives VLAC's abstract names:
the *reversed* pair (``-delta``: moving away) and a *mismatched goal* (``0``: no progress towards
a goal the trajectory does not pursue).

From the deltas of consecutive observations, VLAC's ``critic_to_value_simple`` rebuilds a value,
``V_0 = 0, V_{t+1} = V_t + (1 - V_t) delta_t`` (delta a share of the remaining progress; VLAC's
code works in percent), and screens trajectories with the *value-order correlation* (VOC), the
Spearman correlation between the values and time: 1 for a trajectory that makes steady progress.
As a transition reward, ``delta(o_t, o_{t+1}, goal)`` is a dense progress reward.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rewardlab.core.state import OBJECT
from rewardlab.errors import RewardlabError
from rewardlab.rewards.learned.base import Learnable
from rewardlab.rl.common import mlp


def value_from_deltas(deltas: np.ndarray) -> np.ndarray:
    """``V_0 = 0, V_{t+1} = V_t + (1 - V_t) delta_t``: the values (T + 1,) from T progress deltas."""
    values = [0.0]
    for d in np.asarray(deltas, dtype=np.float64):
        values.append(values[-1] + (1.0 - values[-1]) * d)
    return np.asarray(values)


def value_order_correlation(values: np.ndarray) -> float:
    """VOC: Spearman's rank correlation of the values with their time index (NaN when constant)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 or np.all(values == values[0]):
        return float("nan")
    ranks = _ranks(values)
    time = np.arange(len(values), dtype=np.float64)
    return float(np.corrcoef(ranks, time)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), as Spearman's correlation uses them."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def progress_pairs(
    trajectories: list[np.ndarray], goals: np.ndarray, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(o_i, o_j, goal, delta)`` arrays of ``n`` labelled pairs: a third forward (``(j - i) / (T - i)``),
    a third reversed (its negative), a third with another trajectory's goal (0)."""
    oi, oj, g, d = [], [], [], []
    for k in range(n):
        t = int(rng.integers(len(trajectories)))
        traj = trajectories[t]
        last = len(traj) - 1
        i = int(rng.integers(last))
        j = int(rng.integers(i + 1, last + 1))
        delta = (j - i) / (last - i)
        kind = k % 3
        if kind == 0:
            oi.append(traj[i]), oj.append(traj[j]), g.append(goals[t]), d.append(delta)
        elif kind == 1:
            oi.append(traj[j]), oj.append(traj[i]), g.append(goals[t]), d.append(-delta)
        else:
            other = (t + 1 + int(rng.integers(len(trajectories) - 1))) % len(trajectories)
            oi.append(traj[i]), oj.append(traj[j]), g.append(goals[other]), d.append(0.0)
    return np.asarray(oi), np.asarray(oj), np.asarray(g), np.asarray(d, dtype=np.float32)


class ProgressCritic(Learnable):
    """An MLP on ``[o_i, o_j, goal]`` with a tanh output: ``delta`` in [-1, 1]."""

    name = "progress_critic"
    state_fields = {"net": OBJECT, "optimizer": OBJECT}

    def __init__(
        self,
        obs_dim: int,
        goal_dim: int,
        *,
        hidden_sizes: tuple[int, ...] = (64, 64),
        learning_rate: float = 1e-3,
        batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        self.init_generators(seed)
        self.obs_dim, self.goal_dim = int(obs_dim), int(goal_dim)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = mlp(2 * self.obs_dim + self.goal_dim, hidden_sizes, 1, "relu")
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=learning_rate)
        self.batch_size = int(batch_size)

    def _inputs(self, o_i: Any, o_j: Any, goal: Any) -> torch.Tensor:
        parts = [np.asarray(x, dtype=np.float32).reshape(len(x), -1) for x in (o_i, o_j, goal)]
        widths = [p.shape[1] for p in parts]
        if widths != [self.obs_dim, self.obs_dim, self.goal_dim]:
            raise RewardlabError(
                f"reward {self.name!r}: got observation, observation, goal widths {widths}; it was built for "
                f"{[self.obs_dim, self.obs_dim, self.goal_dim]}"
            )
        return torch.as_tensor(np.concatenate(parts, axis=1))

    def delta(self, o_i: Any, o_j: Any, goal: Any) -> np.ndarray:
        """Predicted progress from ``o_i`` to ``o_j`` towards ``goal`` (inference only)."""
        with torch.no_grad():
            return torch.tanh(self.net(self._inputs(o_i, o_j, goal))).squeeze(-1).double().numpy()

    def update(self, batch: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> dict[str, float]:
        o_i, o_j, goal, target = batch
        idx = self.np_rng.integers(len(target), size=min(self.batch_size, len(target)))
        pred = torch.tanh(self.net(self._inputs(o_i[idx], o_j[idx], goal[idx]))).squeeze(-1)
        loss = F.mse_loss(pred, torch.as_tensor(target[idx]))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        sign = float((torch.sign(pred.detach()) == torch.sign(torch.as_tensor(target[idx]))).float().mean())
        return {"loss": float(loss.detach()), "sign_accuracy": sign}

    def fit(
        self, data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], steps: int = 500
    ) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for _ in range(steps):
            metrics = self.update(data)
        return metrics

    def values(self, trajectory: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """VLAC's value recursion over a trajectory's consecutive deltas."""
        goals = np.repeat(np.asarray(goal)[None], len(trajectory) - 1, axis=0)
        return value_from_deltas(self.delta(trajectory[:-1], trajectory[1:], goals))
