"""Traffic-signal control on the SUMO microscopic simulator (the ``sumo`` extra).

The seed row "single-agent regional traffic-signal control" trains a signal controller with RL and
compares its mean vehicle waiting time with a fixed-time controller, the standard baseline of that
literature. The simulator is Eclipse SUMO from PyPI (``eclipse-sumo``), the networks and the
observation / reward definitions are sumo-rl's bundled ones (Alegre, sumo-rl 1.4.5,
``sumo_rl/environment/env.py``; docs/scale_out.md has the details):

- observation: one-hot current green phase, whether the minimum green time has passed, and per
  incoming lane the density and the queue (vehicles halted / lane capacity);
- action: the next green phase, applied every ``delta_time`` simulated seconds (5);
- reward: ``diff-waiting-time``, the decrease of the total accumulated waiting time since the last
  action.

``SUMO_HOME`` is taken from the installed ``eclipse-sumo`` package, never required from the user.
Each env runs its own ``sumo`` process over TraCI (libsumo allows one simulation per process); one
step costs milliseconds, which is why these envs are the workload for ``vectorization = "ray"``.

Seeding: sumo-rl reuses the last SUMO seed when ``reset`` gets none, so every episode would replay
the same traffic. Here each episode's SUMO seed is drawn from the env's own generator, which
``reset(seed=s)`` seeds: episodes differ, and the whole stream is a pure function of ``s``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from rewardlab.errors import ConfigError

#: network name -> (net file, route file) inside sumo-rl's ``nets/`` folder
NETWORKS = {
    "single-intersection": (
        "single-intersection/single-intersection.net.xml",
        "single-intersection/single-intersection.rou.xml",
    ),
    "2x2grid": ("2x2grid/2x2.net.xml", "2x2grid/2x2.rou.xml"),
}


def import_sumo_rl() -> Any:
    """Import sumo_rl with SUMO_HOME pointing at the eclipse-sumo package's own SUMO."""
    try:
        import sumo
    except ImportError:
        raise ConfigError(
            "the SUMO environments need the sumo extra: pip install 'rewardlab[sumo]' (make setup installs it)"
        ) from None
    os.environ.setdefault("SUMO_HOME", sumo.SUMO_HOME)
    import sumo_rl

    return sumo_rl


def network_files(network: str) -> tuple[str, str]:
    if network not in NETWORKS:
        raise ConfigError(f"env_kwargs 'network': {network!r} is not one of {sorted(NETWORKS)}")
    root = Path(import_sumo_rl().__file__).parent / "nets"
    net, route = NETWORKS[network]
    return str(root / net), str(root / route)


def _sumo_kwargs(network: str, num_seconds: int, delta_time: int, fixed_time: bool) -> dict[str, Any]:
    if num_seconds < delta_time:
        raise ConfigError(f"env_kwargs 'num_seconds': {num_seconds} must be >= delta_time ({delta_time})")
    net, route = network_files(network)
    return dict(
        net_file=net,
        route_file=route,
        num_seconds=num_seconds,
        delta_time=delta_time,
        fixed_ts=fixed_time,
        sumo_warnings=False,
        additional_sumo_cmd="--no-step-log true",
        sumo_seed=0,
        add_per_agent_info=False,
    )


class TrafficSignalEnv(gym.Env):
    """One signal controlled by one agent (Gymnasium). ``fixed_time=True`` runs the network's own
    fixed-time program and ignores the actions: the baseline a learned controller must beat.

    ``info["system_mean_waiting_time"]`` (seconds, over the vehicles in the network) is the metric the
    literature reports; ``info["system_total_stopped"]`` is the number of halted vehicles."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        network: str = "single-intersection",
        num_seconds: int = 3600,
        delta_time: int = 5,
        fixed_time: bool = False,
    ):
        sumo_rl = import_sumo_rl()
        self.sim = sumo_rl.SumoEnvironment(
            single_agent=True, **_sumo_kwargs(network, num_seconds, delta_time, fixed_time)
        )
        if len(self.sim.ts_ids) != 1:
            raise ConfigError(
                f"network {network!r} has {len(self.sim.ts_ids)} signals; use the multi-agent "
                "TrafficGridEnv (sumo-grid2x2) for it"
            )
        self.observation_space = self.sim.observation_space
        self.action_space = self.sim.action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, info = self.sim.reset(seed=int(self.np_random.integers(2**31 - 1)))
        return np.asarray(obs, dtype=np.float32), info

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.sim.step(int(action))
        return np.asarray(obs, dtype=np.float32), float(reward), terminated, truncated, info

    def close(self) -> None:
        if self.sim.sumo is not None:
            self.sim.close()

    def __getstate__(self) -> dict[str, Any]:
        # A running simulation holds a socket to its sumo process. Refusing to pickle makes
        # checkpoints restore this env by replaying the episode's seed and actions (core/envstate.py).
        raise TypeError("a running SUMO simulation cannot be pickled; it is restored by replaying its episode")


class TrafficGridEnv(ParallelEnv):
    """One agent per signal (PettingZoo ``ParallelEnv``) on a multi-signal network. sumo-rl's own
    PettingZoo wrapper does not run with PettingZoo 1.27 (it calls ``agent_selector``, now a module),
    so this drives sumo-rl's multi-agent ``SumoEnvironment`` directly."""

    metadata = {"name": "sumo_grid_v0", "render_modes": []}

    def __init__(
        self, network: str = "2x2grid", num_seconds: int = 3600, delta_time: int = 5, fixed_time: bool = False
    ):
        sumo_rl = import_sumo_rl()
        self.sim = sumo_rl.SumoEnvironment(
            single_agent=False, **_sumo_kwargs(network, num_seconds, delta_time, fixed_time)
        )
        self.possible_agents = list(self.sim.ts_ids)
        self.agents: list[str] = []
        self._np_random = np.random.default_rng()

    def observation_space(self, agent: str) -> gym.Space:
        return self.sim.observation_spaces(agent)

    def action_space(self, agent: str) -> gym.Space:
        return self.sim.action_spaces(agent)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._np_random = np.random.default_rng(seed)
        observations = self.sim.reset(seed=int(self._np_random.integers(2**31 - 1)))
        self.agents = list(self.possible_agents)
        info = self.sim._compute_info()
        return {a: np.asarray(observations[a], dtype=np.float32) for a in self.agents}, {
            a: dict(info) for a in self.agents
        }

    def step(self, actions: dict[str, Any]):
        observations, rewards, dones, info = self.sim.step({a: int(x) for a, x in actions.items()})
        truncated = bool(dones["__all__"])
        obs = {
            a: np.asarray(observations.get(a, self.sim.observations[a]), dtype=np.float32)
            for a in self.agents
        }
        out = (
            obs,
            {a: float(rewards.get(a, 0.0)) for a in self.agents},
            {a: False for a in self.agents},
            {a: truncated for a in self.agents},
            {a: dict(info) for a in self.agents},
        )
        if truncated:
            self.agents = []
        return out

    def close(self) -> None:
        if self.sim.sumo is not None:
            self.sim.close()

