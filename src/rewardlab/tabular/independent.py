"""Independent (distributed) tabular learners for cooperative PettingZoo parallel environments.

Each agent keeps its own Q-table over its own observation and learns from the shared reward as if
the other agents were part of the environment - the distributed SARSA of "Multi-Agent RL for
Offloading Cellular Communications with Cooperating UAVs" (seeds_table row 3: one tabular SARSA
per UAV, ``Q(s,a) <- Q + alpha [r + gamma Q(s',a') - Q(s,a)]``, epsilon-greedy; baselines
Q-learning and random). The update rules are :func:`rewardlab.tabular.td.td_target`. The paper's
hyper-parameters are unverified; alpha, gamma and epsilon below are the usual tabular choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rewardlab.config import RunConfig
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import RNG, VALUE, spawn_rngs
from rewardlab.tabular.td import epsilon_greedy_action, td_target


@dataclass
class IndependentConfig(RunConfig):
    env: str = "uav-offloading"
    total_steps: int = 50_000  # parallel env steps (1000 episodes of 50 steps)
    eval_episodes: int = 5
    # --- uav-offloading environment (rewardlab.envs.uav_offloading) ---
    grid_size: int = 10  # seeds_table row 3: 10 x 10 grid, 3 UAVs, 50 users
    n_uavs: int = 3
    n_users: int = 50
    max_speed: int = 1
    episode_length: int = 50
    snr_threshold_db: float = 15.0
    uav_capacity: int = 0
    start: str = "bs"  # UAVs take off from the base-station cell ("random": anywhere)
    layout_seed: int = 0  # user and hotspot placement (fixed for the whole run)
    # --- learners ---
    alpha: float = 0.1
    gamma: float = 0.9
    epsilon: float = 0.1
    epsilon_end: float | None = None  # None: constant epsilon; else linear decay over epsilon_decay_steps
    epsilon_decay_steps: int = 0
    episodes_per_step: int = 10


def make_parallel_env(config: IndependentConfig) -> Any:
    from rewardlab import registry

    if registry.is_import_path(config.env):  # the user's PettingZoo ParallelEnv (class, factory, instance)
        return registry.make_env(config.env, multi_agent=True)
    if config.env != "uav-offloading":
        from rewardlab.errors import unknown_name

        raise unknown_name("multi-agent environment", config.env, ["uav-offloading"],
                           hint="Or give a PettingZoo ParallelEnv as 'package.module:Env' or 'file.py:Env'.")
    from rewardlab.envs.uav_offloading import UAVOffloadingEnv

    return UAVOffloadingEnv(config.grid_size, config.n_uavs, config.n_users, max_speed=config.max_speed,
                            episode_length=config.episode_length, snr_threshold_db=config.snr_threshold_db,
                            uav_capacity=config.uav_capacity, start=config.start, layout_seed=config.layout_seed)


class IndependentLearners(Algorithm):
    """One tabular learner per agent; ``method`` is "sarsa", "qlearning" or "random"."""

    config_class: ClassVar[type[RunConfig]] = IndependentConfig
    curve_metric: ClassVar[str] = "episode_return_mean"
    method: ClassVar[str] = "sarsa"
    state_fields = {"q": VALUE, "rng": RNG, "_eval_rng": RNG, "episodes": VALUE}
    # every step() ends at an episode boundary and each episode resets the env with its own seed,
    # so the env carries no state across steps
    rebuilt_fields = ("env", "agents", "_env_seed")

    def __init__(self, config: IndependentConfig):
        super().__init__(config)
        self.env = make_parallel_env(config)
        self.agents = list(self.env.possible_agents)
        self.q = {a: np.zeros((self.env.observation_space(a).n, self.env.action_space(a).n)) for a in self.agents}
        self.rng, env_rng, self._eval_rng = spawn_rngs(config.seed, 3)
        self._env_seed = int(env_rng.integers(2**31))
        self.episodes = 0

    def epsilon(self) -> float:
        c = self.config
        if c.epsilon_end is None or c.epsilon_decay_steps <= 0:
            return c.epsilon
        return c.epsilon + min(1.0, self.global_step / c.epsilon_decay_steps) * (c.epsilon_end - c.epsilon)

    def _act(self, obs: dict[str, int], epsilon: float, rng: np.random.Generator) -> dict[str, int]:
        if self.method == "random":
            return {a: int(rng.integers(self.q[a].shape[1])) for a in self.agents}
        return {a: epsilon_greedy_action(self.q[a][obs[a]], epsilon, rng) for a in self.agents}

    def run_episode(self) -> tuple[float, float]:
        """One learning episode; returns (shared return, mean associated users per step)."""
        c = self.config
        obs, _ = self.env.reset(seed=self._env_seed + self.episodes)
        actions = self._act(obs, self.epsilon(), self.rng)
        total, users, steps = 0.0, 0.0, 0
        while self.env.agents:
            next_obs, rewards, terms, truncs, infos = self.env.step(actions)
            eps = self.epsilon()
            next_actions = self._act(next_obs, eps, self.rng)
            if self.method != "random":
                for a in self.agents:
                    q = self.q[a]
                    target = td_target(self.method, q, rewards[a], next_obs[a], next_actions[a], terms[a],
                                       c.gamma, eps)
                    q[obs[a], actions[a]] += c.alpha * (target - q[obs[a], actions[a]])
            obs, actions = next_obs, next_actions
            total += rewards[self.agents[0]]
            users += infos[self.agents[0]]["associated_users"]
            steps += 1
            self.global_step += 1
        self.episodes += 1
        return total, users / max(steps, 1)

    def step(self) -> dict[str, float]:
        results = []
        while len(results) < self.config.episodes_per_step and (
                not results or self.global_step < self.config.total_steps):  # stop at the budget
            results.append(self.run_episode())
        return {"episode_return_mean": float(np.mean([r for r, _ in results])),
                "associated_users_mean": float(np.mean([u for _, u in results])),
                "epsilon": self.epsilon(), "episodes": float(self.episodes)}

    def evaluate(self, episodes: int) -> dict[str, Any]:
        """Greedy joint policy (random agents stay random) on fresh episodes."""
        env = make_parallel_env(self.config)
        returns, users, final = [], [], []
        for _ in range(episodes):
            obs, _ = env.reset(seed=int(self._eval_rng.integers(2**31)))
            total, assoc, steps = 0.0, 0.0, 0
            while env.agents:
                acts = self._act(obs, 0.0, self._eval_rng)  # never the training stream
                obs, rewards, _, _, infos = env.step(acts)
                total += rewards[self.agents[0]]
                assoc += infos[self.agents[0]]["associated_users"]
                steps += 1
            returns.append(total)
            users.append(assoc / steps)
            final.append(infos[self.agents[0]]["associated_users"])
        return {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
                "episodes": episodes, "associated_users_mean": float(np.mean(users)),
                "associated_users_final": float(np.mean(final))}

    def parameters_finite(self) -> str | None:
        for a, q in self.q.items():
            if not np.isfinite(q).all():
                return f"q[{a}]"
        return None


class IndependentSarsa(IndependentLearners):
    summary = "independent (distributed) tabular SARSA agents, e.g. cooperating UAVs"
    method = "sarsa"


class IndependentQLearning(IndependentLearners):
    summary = "independent tabular Q-learning agents"
    method = "qlearning"


class RandomAgents(IndependentLearners):
    summary = "uniformly random agents (multi-agent baseline)"
    method = "random"
