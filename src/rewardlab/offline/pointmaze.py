"""PointMaze (gymnasium-robotics) with flat observations, and the waypoint controller that makes its
offline datasets (docs/offline.md, "PointMaze").

The offline algorithms read Box observations, so ``pointmaze-umaze`` and ``pointmaze-medium`` are
gymnasium-robotics' ``PointMaze_UMaze-v3`` / ``PointMaze_Medium-v3`` with the goal-conditioned Dict
observation flattened to ``[x, y, vx, vy, goal_x, goal_y]`` (``achieved_goal`` repeats x, y). As
Minari's pointmaze datasets and D4RL's maze2d evaluation: ``continuing_task=True`` (the episode runs
to the time limit: 300 / 600 steps; the sparse reward is 1 on every step within 0.45 of the goal)
and ``reset_target=False``.

The controller follows the recipe of Farama's minari-dataset-generation-scripts
(``scripts/pointmaze``): plan the path of maze cells to the goal, steer to the next cell's centre (the
goal itself in the goal's cell) with the PD law ``10 (target - xy) - 1 velocity``, clipped to the
action box; ``rewardlab data generate --noise 0.5`` adds their N(0, 0.5^2) action noise. Ours: a
breadth-first distance field over the cells (theirs: Q-iteration), written here, not copied.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import lru_cache

import gymnasium as gym
import numpy as np

from rewardlab.errors import ConfigError

MAZES = ("UMaze", "Medium")


def _maze_map(maze: str) -> tuple[tuple[int, ...], ...]:
    if maze not in MAZES:
        raise ConfigError(f"PointMaze maze {maze!r} is not one of {', '.join(MAZES)}")
    from gymnasium_robotics.envs.maze import maps

    layout = {"UMaze": maps.U_MAZE, "Medium": maps.MEDIUM_MAZE}[maze]
    return tuple(tuple(1 if c == 1 else 0 for c in row) for row in layout)


class FlatPointMaze(gym.ObservationWrapper):
    """gymnasium-robotics PointMaze with ``[x, y, vx, vy, goal_x, goal_y]`` observations."""

    def __init__(self, maze: str = "UMaze", **kwargs):
        try:
            import gymnasium_robotics
        except ModuleNotFoundError as e:
            raise ConfigError(
                "PointMaze needs gymnasium-robotics: pip install 'gymnasium-robotics==1.4.2' (the offline extra)"
            ) from e
        _maze_map(maze)
        gym.register_envs(gymnasium_robotics)
        kwargs = {"continuing_task": True, "reset_target": False, **kwargs}
        super().__init__(gym.make(f"PointMaze_{maze}-v3", **kwargs))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (6,), np.float64)

    def observation(self, obs: dict) -> np.ndarray:
        return np.concatenate([obs["observation"], obs["desired_goal"]])


def umaze(**kwargs) -> FlatPointMaze:
    return FlatPointMaze("UMaze", **kwargs)


def medium(**kwargs) -> FlatPointMaze:
    return FlatPointMaze("Medium", **kwargs)


# ---------------------------------------------------------------------------------------------
# the waypoint controller


def xy_to_cell(xy: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(N, 2) positions -> (N, 2) [row, col] cells (unit cells, the map centred on the origin)."""
    col = np.floor(xy[:, 0] + cols / 2).astype(int)
    row = np.floor(rows / 2 - xy[:, 1]).astype(int)
    return np.column_stack([np.clip(row, 0, rows - 1), np.clip(col, 0, cols - 1)])


def cell_to_xy(cells: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return np.column_stack([cells[:, 1] + 0.5 - cols / 2, rows / 2 - cells[:, 0] - 0.5])


@lru_cache(maxsize=256)
def distance_field(maze: tuple[tuple[int, ...], ...], goal: tuple[int, int]) -> np.ndarray:
    """Steps from every open cell to ``goal`` (4-connected, walls = 1); inf where unreachable."""
    grid = np.asarray(maze)
    dist = np.full(grid.shape, np.inf)
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        r, c = queue.popleft()
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (r + dr, c + dc)
            if 0 <= n[0] < grid.shape[0] and 0 <= n[1] < grid.shape[1] and grid[n] == 0 and dist[n] == np.inf:
                dist[n] = dist[r, c] + 1
                queue.append(n)
    return dist


def waypoint_controller(maze: str) -> Callable[[np.ndarray], np.ndarray]:
    """obs batch (N, 6) -> actions (N, 2) for the flat PointMaze of ``maze``."""
    layout = _maze_map(maze)
    rows, cols = len(layout), len(layout[0])

    def act(obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64).reshape(-1, 6)
        xy, vel, goal = obs[:, :2], obs[:, 2:4], obs[:, 4:6]
        here, there = xy_to_cell(xy, rows, cols), xy_to_cell(goal, rows, cols)
        target = goal.copy()
        for i in np.flatnonzero((here != there).any(1)):
            dist = distance_field(layout, (int(there[i, 0]), int(there[i, 1])))
            r, c = here[i]
            options = [(dist[r + dr, c + dc], (r + dr, c + dc)) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1))
                       if 0 <= r + dr < rows and 0 <= c + dc < cols]  # fmt: skip
            best = min(options)[1]
            target[i] = cell_to_xy(np.array([best]), rows, cols)[0]
        return np.clip(10 * (target - xy) - 1 * vel, -1, 1).astype(np.float32)

    return act
