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
As a transition reward (``progress``, :class:`ProgressReward`), ``scale * delta(o_t, o_{t+1},
goal)`` is a dense progress reward added to the environment's, with the observation and the goal
read from slices of the transition's observation (the goal must be part of it).

Two choices beyond the research note's sketch, both to push the mismatched-goal response to 0:
``mismatched`` sets the share of mismatched-goal pairs (a third by default, as before), and
``relative = True`` feeds ``[o_i, o_j - o_i, goal - o_i]`` instead of ``[o_i, o_j, goal]`` when
goal and observation share coordinates, so "is the goal where the motion points" is a comparison
of two inputs rather than something the network must rebuild from absolute positions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rewardlab.core.state import OBJECT
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards.learned.base import Learnable, TransitionReward, Transitions
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


def straight_paths(
    rng: np.random.Generator, n: int, steps: int = 10, noise: float = 0.01
) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` noisy straight paths of ``steps`` moves from a random start to a random goal in the unit
    square (the synthetic successful trajectories the critic learns from) and their goals."""
    starts, goals = rng.uniform(0, 1, (n, 2)), rng.uniform(0, 1, (n, 2))
    frac = np.linspace(0, 1, steps + 1)[None, :, None]
    paths = starts[:, None] + frac * (goals - starts)[:, None] + rng.normal(0, noise, (n, steps + 1, 2))
    return [p.astype(np.float32) for p in paths], goals.astype(np.float32)


def progress_pairs(
    trajectories: list[np.ndarray],
    goals: np.ndarray,
    rng: np.random.Generator,
    n: int,
    mismatched: float = 1 / 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(o_i, o_j, goal, delta)`` arrays of ``n`` labelled pairs: a share ``mismatched`` with another
    trajectory's goal (0), the rest half forward (``(j - i) / (T - i)``), half reversed (its negative)."""
    if not 0 <= mismatched < 1:
        raise ConfigError(f"progress_pairs: mismatched must be in [0, 1), got {mismatched}")
    n_mismatched = int(round(mismatched * n))
    oi, oj, g, d = [], [], [], []
    for k in range(n):
        t = int(rng.integers(len(trajectories)))
        traj = trajectories[t]
        last = len(traj) - 1
        i = int(rng.integers(last))
        j = int(rng.integers(i + 1, last + 1))
        delta = (j - i) / (last - i)
        kind = 2 if k >= n - n_mismatched else k % 2
        if kind == 0:
            oi.append(traj[i]), oj.append(traj[j]), g.append(goals[t]), d.append(delta)
        elif kind == 1:
            oi.append(traj[j]), oj.append(traj[i]), g.append(goals[t]), d.append(-delta)
        else:
            other = (t + 1 + int(rng.integers(len(trajectories) - 1))) % len(trajectories)
            oi.append(traj[i]), oj.append(traj[j]), g.append(goals[other]), d.append(0.0)
    return np.asarray(oi), np.asarray(oj), np.asarray(g), np.asarray(d, dtype=np.float32)


class ProgressCritic(Learnable):
    """An MLP on ``[o_i, o_j, goal]`` (``relative``: ``[o_i, o_j - o_i, goal - o_i]``) with a tanh
    output: ``delta`` in [-1, 1]."""

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
        relative: bool = False,
        antisymmetric: bool = False,
    ) -> None:
        self.init_generators(seed)
        self.obs_dim, self.goal_dim = int(obs_dim), int(goal_dim)
        if relative and self.obs_dim != self.goal_dim:
            raise ConfigError(
                f"progress_critic: relative inputs subtract the observation from the goal, so they need the same "
                f"width; got observation {self.obs_dim} and goal {self.goal_dim} (use relative = False)"
            )
        self.relative, self.hidden_sizes = bool(relative), tuple(int(h) for h in hidden_sizes)
        self.antisymmetric = bool(antisymmetric)
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
        if self.relative:
            parts = [parts[0], parts[1] - parts[0], parts[2] - parts[0]]
        return torch.as_tensor(np.concatenate(parts, axis=1))

    def forward(self, o_i: Any, o_j: Any, goal: Any) -> torch.Tensor:
        """``tanh(f(o_i, o_j, g))``, or ``tanh(f(o_i, o_j, g) - f(o_j, o_i, g))`` when ``antisymmetric``:
        the labels are antisymmetric (a reversed pair is labelled ``-delta``), and a critic that is
        not pays a policy for going back and forth (measured: +0.08 towards the goal, -0.07 away)."""
        out = self.net(self._inputs(o_i, o_j, goal))
        if self.antisymmetric:
            out = out - self.net(self._inputs(o_j, o_i, goal))
        return torch.tanh(out).squeeze(-1)

    def delta(self, o_i: Any, o_j: Any, goal: Any) -> np.ndarray:
        """Predicted progress from ``o_i`` to ``o_j`` towards ``goal`` (inference only)."""
        with torch.no_grad():
            return self.forward(o_i, o_j, goal).double().numpy()

    def update(self, batch: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> dict[str, float]:
        o_i, o_j, goal, target = batch
        idx = self.np_rng.integers(len(target), size=min(self.batch_size, len(target)))
        pred = self.forward(o_i[idx], o_j[idx], goal[idx])
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

    def save(self, path: str | Path) -> Path:
        """Write the network and its shape for :class:`ProgressReward`."""
        path = Path(path)
        torch.save(
            {"net": self.net.state_dict(), "obs_dim": self.obs_dim, "goal_dim": self.goal_dim,
             "hidden_sizes": list(self.hidden_sizes), "relative": self.relative,
             "antisymmetric": self.antisymmetric},
            path,
        )  # fmt: skip
        return path

    @classmethod
    def load(cls, path: str | Path) -> ProgressCritic:
        if not Path(path).is_file():
            raise ConfigError(f"progress critic {str(path)!r} is not a file written by ProgressCritic.save")
        saved = torch.load(path, map_location="cpu", weights_only=False)
        critic = cls(saved["obs_dim"], saved["goal_dim"], hidden_sizes=tuple(saved["hidden_sizes"]),
                     relative=saved["relative"], antisymmetric=saved.get("antisymmetric", False))  # fmt: skip
        critic.net.load_state_dict(saved["net"])
        return critic


class ProgressReward(TransitionReward):
    """``scale * delta(obs[observation_slice], next_obs[observation_slice], obs[goal_slice])`` from a
    frozen :class:`ProgressCritic` (``progress``), added to the environment's reward."""

    name = "progress"
    gamma = None
    trainable = False

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        path: str = "",
        observation_slice: tuple[int, int] = (0, 2),
        goal_slice: tuple[int, int] = (4, 6),
        scale: float = 1.0,
        num_envs: int = 1,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(observation_space, action_space, num_envs=num_envs, seed=seed, name=name)
        self.require_box_observations()
        self.critic = ProgressCritic.load(path)
        width = int(np.prod(observation_space.shape))
        self.obs_slice, self.goal_slice = slice(*observation_slice), slice(*goal_slice)
        widths = [len(range(width)[self.obs_slice]), len(range(width)[self.goal_slice])]
        if widths != [self.critic.obs_dim, self.critic.goal_dim]:
            raise ConfigError(
                f"reward {self.name!r}: observation_slice {list(observation_slice)} and goal_slice "
                f"{list(goal_slice)} of the observation space {observation_space} give widths {widths}; "
                f"the critic {path!r} takes {[self.critic.obs_dim, self.critic.goal_dim]}"
            )
        self.scale = float(scale)

    def score(self, batch: Transitions) -> np.ndarray:
        obs, next_obs = batch.obs.reshape(len(batch), -1), batch.next_obs.reshape(len(batch), -1)
        return self.scale * self.critic.delta(
            obs[:, self.obs_slice], next_obs[:, self.obs_slice], obs[:, self.goal_slice]
        )
