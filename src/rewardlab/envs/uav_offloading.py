"""Multi-UAV cellular offloading as a PettingZoo ``ParallelEnv``.

After "Multi-Agent Reinforcement Learning for Offloading Cellular Communications with Cooperating
UAVs" (seeds_table row 3; the paper's code was not found, so the radio model below is a standard
one, stated here, not the paper's exact reward): a square area is split into ``grid_size`` x
``grid_size`` cells; ground users stand still (clustered around hotspots, plus a uniform share);
a terrestrial base station (BS) sits in one cell; each UAV agent flies at a fixed altitude and
every step moves up to ``max_speed`` cells north/south/east/west, or hovers.

Association: every user takes the strongest SNR among the BS and the UAVs, provided it meets the
QoS threshold (``snr_threshold_db``; a rate threshold r_min over bandwidth W is the same as
SNR >= 2^(r_min/W) - 1); a UAV serves at most ``uav_capacity`` users (0 = unlimited), the best
SNRs first. The shared reward of every agent is the number of users associated with UAVs - the
traffic offloaded from the BS - so the agents cooperate.

Radio model: UAV links free-space path loss ``20 log10(d) + 20 log10(f) - 147.55`` dB (d in m,
f in Hz) at 3-D distance; BS links the 3GPP TR 36.814 urban macro law ``128.1 + 37.6 log10(d_km)``;
SNR = transmit power - path loss - noise power (dBm).

Observation of each agent: the index of its own cell (the finite state of the paper's
independent SARSA learners). Actions: 0 = hover, then for k = 1..max_speed the moves N, S, E, W
by k cells (moves are clipped at the border).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from rewardlab.errors import ConfigError

DIRECTIONS = np.array([[0, 1], [0, -1], [1, 0], [-1, 0]])  # N, S, E, W as (dx, dy)


def fspl_db(distance_m: np.ndarray, freq_hz: float) -> np.ndarray:
    """Free-space path loss in dB."""
    return 20 * np.log10(np.maximum(distance_m, 1.0)) + 20 * np.log10(freq_hz) - 147.55


def macro_pathloss_db(distance_m: np.ndarray) -> np.ndarray:
    """3GPP TR 36.814 urban macro path loss in dB (distance in metres, floored at 35 m)."""
    return 128.1 + 37.6 * np.log10(np.maximum(distance_m, 35.0) / 1000.0)


def associate(uav_snr_db: np.ndarray, bs_snr_db: np.ndarray, threshold_db: float, capacity: int) -> np.ndarray:
    """Serving UAV of each user (-1 = the BS or nobody), by max-SNR association with capacity.

    ``uav_snr_db`` is (U, users), ``bs_snr_db`` (users,). Users pick their best UAV if it beats
    the BS and meets the threshold; a full UAV keeps its best-SNR users and the rest fall back to
    their next-best qualifying UAV (deferred acceptance in SNR order).
    """
    n_uav, n_users = uav_snr_db.shape
    serving = np.full(n_users, -1)
    if n_uav == 0:
        return serving
    ok = (uav_snr_db >= threshold_db) & (uav_snr_db > bs_snr_db[None, :])
    if capacity <= 0:
        snr = np.where(ok, uav_snr_db, -np.inf)
        best = np.argmax(snr, axis=0)
        has = np.isfinite(snr[best, np.arange(n_users)])
        serving[has] = best[has]
        return serving
    # Capacity-limited: assign (uav, user) pairs in decreasing SNR order.
    uav_idx, user_idx = np.nonzero(ok)
    order = np.argsort(-uav_snr_db[uav_idx, user_idx], kind="stable")
    load = np.zeros(n_uav, dtype=int)
    for k in order:
        u, j = uav_idx[k], user_idx[k]
        if serving[j] < 0 and load[u] < capacity:
            serving[j] = u
            load[u] += 1
    return serving


class UAVOffloadingEnv(ParallelEnv):
    """Cooperative multi-UAV offloading on a grid (see module docstring)."""

    summary = "PettingZoo: cooperative multi-UAV cellular offloading on a grid (shared reward)"
    metadata = {"name": "uav_offloading_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, grid_size: int = 10, n_uavs: int = 3, n_users: int = 50, *, max_speed: int = 1,
                 episode_length: int = 50, cell_m: float = 100.0, altitude_m: float = 100.0,
                 freq_hz: float = 2e9, uav_power_dbm: float = 20.0, bs_power_dbm: float = 40.0,
                 noise_dbm: float = -80.0, snr_threshold_db: float = 15.0, uav_capacity: int = 0,
                 hotspots: int = 3, hotspot_share: float = 0.7, bs_cell: tuple[int, int] | None = None,
                 start: str = "bs", layout_seed: int = 0, render_mode: str | None = None):
        if grid_size < 2:
            raise ConfigError(f"grid_size must be >= 2, got {grid_size}")
        if n_uavs < 1 or n_users < 1:
            raise ConfigError(f"need at least one UAV and one user, got n_uavs={n_uavs}, n_users={n_users}")
        if not 1 <= max_speed < grid_size:
            raise ConfigError(f"max_speed must be in [1, grid_size - 1 = {grid_size - 1}], got {max_speed}")
        if start not in ("bs", "random"):
            raise ConfigError(f"start must be 'bs' or 'random', got {start!r}")
        self.grid_size, self.max_speed, self.episode_length = grid_size, max_speed, episode_length
        self.cell_m, self.altitude_m, self.freq_hz = cell_m, altitude_m, freq_hz
        self.uav_power_dbm, self.noise_dbm = uav_power_dbm, noise_dbm
        self.snr_threshold_db, self.uav_capacity, self.start = snr_threshold_db, uav_capacity, start
        self.render_mode = render_mode
        self.possible_agents = [f"uav_{i}" for i in range(n_uavs)]
        self.agents: list[str] = []
        self.moves = np.concatenate([[[0, 0]]] + [DIRECTIONS * k for k in range(1, max_speed + 1)])
        self._observation_space = spaces.Discrete(grid_size * grid_size)
        self._action_space = spaces.Discrete(len(self.moves))
        # Fixed layout (users and BS) from layout_seed: the tabular learners' state is the UAV cell only.
        layout = np.random.default_rng(layout_seed)
        self.bs_cell = np.array(bs_cell if bs_cell is not None else (grid_size // 2, grid_size // 2))
        area = grid_size * cell_m
        n_hot = int(round(hotspot_share * n_users)) if hotspots else 0
        centres = layout.uniform(0.15 * area, 0.85 * area, size=(max(hotspots, 1), 2))
        near = centres[layout.integers(len(centres), size=n_hot)] + layout.normal(0, 0.6 * cell_m, (n_hot, 2))
        spread = layout.uniform(0, area, size=(n_users - n_hot, 2))
        self.users_m = np.clip(np.concatenate([near, spread]), 0, area - 1e-6)  # (users, 2) metres
        bs_m = (self.bs_cell + 0.5) * cell_m
        self.bs_snr_db = bs_power_dbm - macro_pathloss_db(np.linalg.norm(self.users_m - bs_m, axis=1)) - noise_dbm
        self.rng = np.random.default_rng()
        self.positions = np.zeros((n_uavs, 2), dtype=int)
        self.t = 0

    def observation_space(self, agent: str) -> spaces.Discrete:
        return self._observation_space  # one object per env, as PettingZoo's API test expects

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_space

    def cell_index(self, position: np.ndarray) -> int:
        return int(position[0] * self.grid_size + position[1])

    def uav_snr_db(self, positions: np.ndarray) -> np.ndarray:
        """(U, users) SNR of every user from every UAV at ``positions`` (cells)."""
        centres = (positions + 0.5) * self.cell_m
        horizontal = np.linalg.norm(self.users_m[None] - centres[:, None], axis=2)
        distance = np.sqrt(horizontal**2 + self.altitude_m**2)
        return self.uav_power_dbm - fspl_db(distance, self.freq_hz) - self.noise_dbm

    def serving(self, positions: np.ndarray | None = None) -> np.ndarray:
        pos = self.positions if positions is None else positions
        return associate(self.uav_snr_db(pos), self.bs_snr_db, self.snr_threshold_db, self.uav_capacity)

    def associated_users(self, positions: np.ndarray | None = None) -> int:
        return int((self.serving(positions) >= 0).sum())

    def _observations(self) -> dict[str, int]:
        return {a: self.cell_index(self.positions[i]) for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        n = len(self.possible_agents)
        if self.start == "bs":
            self.positions = np.tile(self.bs_cell, (n, 1))
        else:
            self.positions = self.rng.integers(self.grid_size, size=(n, 2))
        self.t = 0
        serving = self.serving()
        infos = {a: {"associated_users": int((serving >= 0).sum())} for a in self.agents}
        return self._observations(), infos

    def step(self, actions: dict[str, int]):
        if not self.agents:
            raise ConfigError("step() called on a finished episode; call reset() first")
        for i, agent in enumerate(self.possible_agents):
            move = self.moves[int(actions[agent])]
            self.positions[i] = np.clip(self.positions[i] + move, 0, self.grid_size - 1)
        self.t += 1
        serving = self.serving()
        n_assoc = int((serving >= 0).sum())
        per_uav = np.bincount(serving[serving >= 0], minlength=len(self.possible_agents))
        observations = self._observations()
        rewards = {a: float(n_assoc) for a in self.agents}
        truncated = self.t >= self.episode_length
        terminations = {a: False for a in self.agents}
        truncations = {a: truncated for a in self.agents}
        infos = {a: {"associated_users": n_assoc, "served_by_me": int(per_uav[i])}
                 for i, a in enumerate(self.possible_agents)}
        if truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        grid = [["." for _ in range(self.grid_size)] for _ in range(self.grid_size)]
        for x, y in (self.users_m // self.cell_m).astype(int):
            grid[y][x] = "u"
        grid[self.bs_cell[1]][self.bs_cell[0]] = "B"
        for i, (x, y) in enumerate(self.positions):
            grid[y][x] = str(i)
        return "\n".join("".join(row) for row in reversed(grid))

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "positions": self.positions.tolist(), "t": self.t,
                "agents": list(self.agents)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.positions = np.array(state["positions"], dtype=int)
        self.t, self.agents = state["t"], list(state["agents"])

    def close(self) -> None:
        pass
