"""Tabular TD control: Q-learning, SARSA and Expected SARSA on Gymnasium discrete environments
(CliffWalking-v1, FrozenLake-v1, Taxi-v4, ...).

Sutton & Barto (2018), *Reinforcement Learning: An Introduction*, 2nd ed.:
SARSA Sec. 6.4 (target ``r + gamma Q(s', a')``, a' the action actually taken next), Q-learning
Sec. 6.5 (``r + gamma max_a Q(s', a)``), Expected SARSA Sec. 6.6 (``r + gamma sum_a pi(a|s')
Q(s', a)`` under the epsilon-greedy policy). Example 6.6 (cliff walking, epsilon = 0.1): SARSA
learns the safe path, Q-learning the optimal one along the cliff, while SARSA's online return is
higher. Defaults alpha = 0.5, epsilon = 0.1, gamma = 1 are those of the book's figure code
(github.com/ShangtongZhang/reinforcement-learning-an-introduction, ``chapter06/cliff_walking.py``).

One ``step()`` plays ``episodes_per_step`` whole episodes, so a checkpoint never falls inside an
episode; ``global_step`` counts environment steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from rewardlab.config import RunConfig, bounds
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.envstate import Snapshot
from rewardlab.core.state import ARRAY, ENV, RNG, VALUE, spawn_rngs
from rewardlab.errors import ConfigError

METHODS = ("qlearning", "sarsa", "expected-sarsa")


def epsilon_greedy_probs(q_row: np.ndarray, epsilon: float) -> np.ndarray:
    """pi(.|s) of epsilon-greedy with greedy ties sharing the 1 - epsilon mass."""
    greedy = q_row >= q_row.max()
    return epsilon / len(q_row) + (1.0 - epsilon) * greedy / greedy.sum()


def epsilon_greedy_action(q_row: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """Random action with probability epsilon, else a greedy one (ties broken at random)."""
    if rng.random() < epsilon:
        return int(rng.integers(len(q_row)))
    best = np.flatnonzero(q_row >= q_row.max())
    return int(best[0] if len(best) == 1 else best[rng.integers(len(best))])


def td_target(method: str, q: np.ndarray, reward: float, next_state: int, next_action: int | None,
              terminated: bool, gamma: float, epsilon: float) -> float:
    """The bootstrap target of one transition for ``method`` (no bootstrap after termination)."""
    if terminated:
        return reward
    row = q[next_state]
    if method == "qlearning":
        return reward + gamma * row.max()
    if method == "sarsa":
        return reward + gamma * row[next_action]
    if method == "expected-sarsa":
        return reward + gamma * float(epsilon_greedy_probs(row, epsilon) @ row)
    raise ConfigError(f"unknown TD method {method!r}; valid: {', '.join(METHODS)}")


@dataclass
class TabularConfig(RunConfig):
    env: str = "CliffWalking-v1"
    total_steps: int = 20_000  # environment steps (about 500 cliff-walking episodes)
    eval_episodes: int = 1  # the greedy policy; deterministic envs need only one episode
    # step size (S&B cliff-walking code: STEP_SIZE = 0.5)
    alpha: float = field(default=0.5, metadata=bounds(gt=0, le=1))
    gamma: float = 1.0  # undiscounted episodic task (S&B Example 6.6)
    epsilon: float = 0.1  # S&B Example 6.6
    epsilon_end: float | None = None  # None: constant epsilon; else linear decay to this value
    epsilon_decay_steps: int = 0  # env steps over which epsilon decays to epsilon_end
    episodes_per_step: int = 10
    max_episode_steps: int = 1000  # time limit for envs registered without one (CliffWalking)
    q_init: float = 0.0


def make_discrete_env(env_id: str, max_episode_steps: int) -> gym.Env:
    """gym.make with a time limit added where the registration has none; checks the spaces."""
    from rewardlab.registry import make_env

    env = make_env(env_id, default_time_limit=max_episode_steps)
    if not isinstance(env.observation_space, gym.spaces.Discrete) or not isinstance(
            env.action_space, gym.spaces.Discrete):
        env.close()
        raise ConfigError(f"tabular methods need Discrete observation and action spaces; {env_id!r} has "
                          f"{env.observation_space} and {env.action_space}")
    return env


def greedy_loop(states: list[int]) -> list[int]:
    """The first cycle in a state sequence: the states between the first two visits of a state, which a
    deterministic policy in a deterministic env then repeats. ``[0, 1, 2, 3, 2, 3, 2]`` -> ``[2, 3]``."""
    last_seen: dict[int, int] = {}
    for i, s in enumerate(states):
        if s in last_seen:
            first = last_seen[s]
            # the cycle is the segment between two visits of the same state
            return states[first:i]
        last_seen[s] = i
    return []


class TabularTD(Algorithm):
    """Shared loop of the three TD control methods; subclasses set ``method``."""

    config_class: ClassVar[type[RunConfig]] = TabularConfig
    curve_metric: ClassVar[str] = "episode_return_mean"
    method: ClassVar[str] = "qlearning"
    state_fields = {"q": ARRAY, "rng": RNG, "_eval_rng": RNG, "env": ENV, "_first_reset_seed": VALUE,
                    "episodes": VALUE}  # fmt: skip

    def __init__(self, config: TabularConfig):
        super().__init__(config)
        self.env = Snapshot(make_discrete_env(config.env, config.max_episode_steps))
        self.q = np.full((self.env.observation_space.n, self.env.action_space.n), float(config.q_init))
        self.rng, env_rng, self._eval_rng = spawn_rngs(config.seed, 3)
        self._first_reset_seed: int | None = int(env_rng.integers(2**31))
        self.episodes = 0

    def epsilon(self) -> float:
        c = self.config
        if c.epsilon_end is None or c.epsilon_decay_steps <= 0:
            return c.epsilon
        frac = min(1.0, self.global_step / c.epsilon_decay_steps)
        return c.epsilon + frac * (c.epsilon_end - c.epsilon)

    def run_episode(self) -> tuple[float, int]:
        """One learning episode; returns (return, length)."""
        c, q, rng = self.config, self.q, self.rng
        state, _ = self.env.reset(seed=self._first_reset_seed)
        self._first_reset_seed = None  # later resets continue the env's own generator
        eps = self.epsilon()
        action = epsilon_greedy_action(q[state], eps, rng)
        total, length, done = 0.0, 0, False
        while not done:
            next_state, reward, terminated, truncated, _ = self.env.step(action)
            eps = self.epsilon()
            next_action = epsilon_greedy_action(q[next_state], eps, rng)
            target = td_target(self.method, q, float(reward), next_state, next_action, terminated, c.gamma, eps)
            q[state, action] += c.alpha * (target - q[state, action])
            state, action = next_state, next_action
            total += float(reward)
            length += 1
            self.global_step += 1
            done = terminated or truncated
        self.episodes += 1
        return total, length

    def step(self) -> dict[str, float]:
        results = []
        while len(results) < self.config.episodes_per_step and (
                not results or self.global_step < self.config.total_steps):  # stop at the budget
            results.append(self.run_episode())
        returns, lengths = zip(*results)
        return {"episode_return_mean": float(np.mean(returns)), "episode_length_mean": float(np.mean(lengths)),
                "epsilon": self.epsilon(), "episodes": float(self.episodes)}

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions (argmax Q, ties to the lowest action) for a batch of states."""
        return np.argmax(self.q[np.asarray(obs, dtype=np.int64)], axis=-1)

    def greedy_return(self, seed: int) -> tuple[float, int, list[int] | None]:
        """(return, length, loop): ``loop`` is the cycle of states the greedy policy repeats when the
        episode was cut at the time limit without reaching a terminal state, else None."""
        env = make_discrete_env(self.config.env, self.config.max_episode_steps)
        state, _ = env.reset(seed=seed)
        states = [int(state)]
        total, length, terminated, truncated = 0.0, 0, False, False
        while not (terminated or truncated):
            state, reward, terminated, truncated, _ = env.step(int(self.predict(np.array([state]))[0]))
            states.append(int(state))
            total += float(reward)
            length += 1
        env.close()
        return total, length, (greedy_loop(states) if truncated and not terminated else None)

    def evaluate(self, episodes: int) -> dict[str, Any]:
        results = [self.greedy_return(int(self._eval_rng.integers(2**31))) for _ in range(episodes)]
        returns = [r for r, _, _ in results]
        out = {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
               "episodes": episodes, "mean_length": float(np.mean([n for _, n, _ in results]))}
        loops = [loop for _, _, loop in results if loop is not None]
        if loops:
            # A greedy policy that never terminates is cut at the time limit: its return measures the
            # limit, not the policy. Say so, and where it loops (state ids of the env).
            out["cut_at_step_limit"] = len(loops)
            out["loop_states"] = loops[0]
            loop = loops[0]
            where = (f"it stays in state {loop[0]}" if len(loop) == 1
                     else f"it loops through states {' -> '.join(map(str, loop + loop[:1]))}")
            out["warning"] = (
                f"the greedy policy was cut at the step limit (max_episode_steps={self.config.max_episode_steps}) "
                f"in {len(loops)} of {episodes} episode(s) without reaching a terminal state: {where}, so "
                f"mean_return measures the step limit, not a finished episode"
            )
        return out

    def parameters_finite(self) -> str | None:
        return None if np.isfinite(self.q).all() else "q"

    def close(self) -> None:
        self.env.close()


class QLearning(TabularTD):
    summary = "tabular Q-learning (Watkins 1989; Sutton & Barto Sec. 6.5)"
    method = "qlearning"


class Sarsa(TabularTD):
    summary = "tabular SARSA (Rummery & Niranjan 1994; Sutton & Barto Sec. 6.4)"
    method = "sarsa"


class ExpectedSarsa(TabularTD):
    summary = "tabular Expected SARSA (van Seijen et al. 2009; Sutton & Barto Sec. 6.6)"
    method = "expected-sarsa"
