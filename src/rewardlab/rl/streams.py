"""PPO's seam for extra reward streams: transition rewards with their own discount and value head.

A :class:`~rewardlab.rewards.learned.TransitionReward` in PPO's ``transition_rewards`` list is
either added to the environment reward (``gamma`` None) or becomes a *stream*: a column of the
critic's output, its own GAE with its own discount, episode ends ignored when it is
non-episodic. The policy follows ``A = ext_coef * A_ext + sum_i coef_i * A_i`` (Burda et al. 2019,
CleanRL's ``ppo_rnd_envpool.py``: 2 A_ext + 1 A_int) and the value loss sums the heads' losses.

Per PPO iteration, after the rollout: for each reward, ``update`` then score (``update_order =
"before_score"``, GAIL/ORPO) or score then ``update`` (``"after_score"``, RND); then GAE per
stream; then the policy update. Rewards needing a random-action warm-up get it once, before
training, through ``fit``.

A reward that declares ``needs_policy_log_prob = True`` (AIRL, whose discriminator contains
``log pi(a|s)``) is handed the learner's ``log_prob(obs, actions) -> float64[B]``, the current
policy scored on any arrays (its own rollout's and the demonstrations' rows), through
:meth:`RewardStreams.bind_policy`. Nothing is passed to the other rewards, and binding draws no
random numbers, so their runs are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rewardlab.errors import ConfigError
from rewardlab.rewards.learned.base import TransitionReward, Transitions


def build_transition_reward(
    spec: dict[str, Any],
    where: str,
    observation_space: gym.Space,
    action_space: gym.Space,
    num_envs: int,
    seed: int,
) -> TransitionReward:
    """A transition reward from a config table ``{reward = NAME, ...params}``."""
    from rewardlab.rewards.registry import REWARD_TABLE, _load, _parameters, get

    if not isinstance(spec, dict) or "reward" not in spec:
        raise ConfigError(f"{where}: expected a table with 'reward = NAME' and its parameters, got {spec!r}")
    params = dict(spec)
    name = str(params.pop("reward"))
    for key in ("observation_space", "action_space", "num_envs"):
        if key in params:
            raise ConfigError(f"{where}: {key!r} is set by the algorithm, not the config")
    params.setdefault("seed", seed)
    if name in REWARD_TABLE and "observation_space" not in _parameters(_load(REWARD_TABLE[name][0])):
        takes = [
            n for n, (path, _) in REWARD_TABLE.items() if "observation_space" in _parameters(_load(path))
        ]
        raise ConfigError(
            f"{where}: reward {name!r} scores text samples, it is not a transition reward "
            f"(obs, action, next_obs, done -> float). Transition rewards: {', '.join(sorted(takes))}."
        )
    reward = get(
        name, observation_space=observation_space, action_space=action_space, num_envs=num_envs, **params
    )
    if not isinstance(reward, TransitionReward):
        raise ConfigError(
            f"{where}: reward {name!r} is a {type(reward).__name__}, not a transition reward "
            "(obs, action, next_obs, done -> float); PPO's transition_rewards take those only"
        )
    return reward


class RewardStreams:
    """The transition rewards of one PPO run, their rollout buffers and their advantage streams."""

    def __init__(
        self, rewards: list[TransitionReward], ext_coef: float, num_envs: int, n_steps: int, obs_shape
    ):
        self.rewards = rewards
        self.ext_coef = float(ext_coef)
        self.streams = [r for r in rewards if r.gamma is not None]  # critic columns 1, 2, ...
        self.num_envs, self.n_steps = num_envs, n_steps
        self.obs = np.zeros((n_steps, num_envs, *obs_shape), dtype=np.float64)
        self.next_obs = np.zeros_like(self.obs)
        self.actions: np.ndarray | None = None
        self.dones = np.zeros((n_steps, num_envs), dtype=bool)
        self.terminated = np.zeros((n_steps, num_envs), dtype=bool)
        self.raw_obs: np.ndarray | None = None  # the current raw observation of every env

    @property
    def n_heads(self) -> int:
        return len(self.streams)

    def bind_policy(self, log_prob: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        """Give ``log_prob(obs, actions)`` (the learner's current policy, raw observations and the
        actions the env received) to every reward that declares ``needs_policy_log_prob``."""
        for r in self.rewards:
            if getattr(r, "needs_policy_log_prob", False):
                r.policy_log_prob = log_prob

    # ---- before training ----------------------------------------------------------------------
    def warmup(self, envs: gym.vector.VectorEnv, obs: np.ndarray, seed: int) -> np.ndarray:
        """Random-action steps for the rewards that ask for them (``fit``); returns the new obs."""
        self.raw_obs = obs
        steps = max((r.warmup_steps for r in self.rewards), default=0)
        if steps == 0:
            return obs
        rng = np.random.default_rng(seed)
        space = envs.single_action_space
        cols = {"obs": [], "action": [], "next_obs": [], "done": [], "terminated": []}
        for _ in range(steps):
            if isinstance(space, gym.spaces.Discrete):
                action = rng.integers(space.n, size=self.num_envs) + space.start
            else:
                action = rng.uniform(space.low, space.high, size=(self.num_envs, *space.shape)).astype(
                    space.dtype
                )
            next_obs, _, terminated, truncated, infos = envs.step(action)
            done = terminated | truncated
            reached = self._reached(next_obs, done, infos)
            for key, value in zip(cols, (obs, action, reached, done, terminated)):
                cols[key].append(value)
            obs = next_obs
        for r in self.rewards:
            if r.warmup_steps:
                k = r.warmup_steps * self.num_envs
                data = Transitions(
                    **{c: np.concatenate(v)[-k:] for c, v in cols.items()}, num_envs=self.num_envs
                )
                r.fit(data)
        self.raw_obs = obs
        return obs

    # ---- during the rollout -------------------------------------------------------------------
    @staticmethod
    def _reached(next_obs: np.ndarray, done: np.ndarray, infos: dict[str, Any]) -> np.ndarray:
        """The observation each transition reached: the episode's last one where it ended."""
        if not done.any():
            return next_obs
        reached = np.array(next_obs, copy=True)
        for i in np.flatnonzero(done):
            reached[i] = infos["final_obs"][i]
        return reached

    def record(
        self,
        t: int,
        action: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        infos,
    ) -> None:
        if self.actions is None:
            self.actions = np.zeros((self.n_steps, *action.shape), dtype=action.dtype)
        done = terminated | truncated
        self.obs[t] = self.raw_obs
        self.actions[t] = action
        self.next_obs[t] = self._reached(next_obs, done, infos)
        self.dones[t] = done
        self.terminated[t] = terminated
        self.raw_obs = next_obs

    # ---- after the rollout --------------------------------------------------------------------
    def score(self) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """(reward added to the env reward (T, N), per-stream rewards (T, N, K), metrics)."""
        T, N = self.n_steps, self.num_envs
        flat = lambda a: a.reshape(T * N, *a.shape[2:])  # noqa: E731 - time-major (T, N) -> (T*N)
        batch = Transitions(
            flat(self.obs),
            flat(self.actions),
            flat(self.next_obs),
            flat(self.dones),
            N,
            flat(self.terminated),
        )
        added = np.zeros((T, N))
        streams = np.zeros((T, N, self.n_heads))
        metrics: dict[str, float] = {}
        for r in self.rewards:
            m: dict[str, float] = {}
            if r.update_order == "before_score":
                m.update(r.update(batch))
            values = r.score_checked(batch).reshape(T, N)
            if r.update_order == "after_score":
                m.update(r.update(batch))
            if r.gamma is None:
                added += values
            else:
                streams[..., self.streams.index(r)] = values
            m["mean"] = float(values.mean())
            stats = getattr(r, "stats", None)
            if stats is not None:
                m["return_std"] = float(np.sqrt(stats.var))
            metrics.update({f"reward/{r.name}/{k}": v for k, v in m.items()})
        return added, streams, metrics

    def advantages(
        self,
        compute_gae,
        ext_rewards: torch.Tensor,
        values: torch.Tensor,
        next_values: torch.Tensor,
        bootstrapped: torch.Tensor,
        terminations: torch.Tensor,
        dones: torch.Tensor,
        stream_rewards: np.ndarray,
        gamma: float,
        gae_lambda: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Combined advantages (T, N) and per-head returns (T, N, 1 + K).

        ``next_values`` is the critic on the next row (the reset observation after an episode
        end), ``bootstrapped`` the same with V(final obs) at truncations: episodic heads use the
        latter with the episode masks, non-episodic heads the former with no masks at all, as if
        the env never reset."""
        adv, ret = compute_gae(
            ext_rewards, values[..., 0], bootstrapped[..., 0], terminations, dones, gamma, gae_lambda
        )
        total = self.ext_coef * adv
        returns = [ret]
        zeros = torch.zeros_like(dones)
        for k, r in enumerate(self.streams, start=1):
            rewards_k = torch.as_tensor(stream_rewards[..., k - 1], dtype=ext_rewards.dtype)
            if r.episodic:
                a, g = compute_gae(
                    rewards_k, values[..., k], bootstrapped[..., k], terminations, dones, r.gamma, gae_lambda
                )
            else:
                a, g = compute_gae(
                    rewards_k, values[..., k], next_values[..., k], zeros, zeros, r.gamma, gae_lambda
                )
            total = total + r.coef * a
            returns.append(g)
        return total, torch.stack(returns, dim=-1)

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "rewards": [r.state_dict() for r in self.rewards],
            "raw_obs": np.array(self.raw_obs, copy=True),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for r, s in zip(self.rewards, state["rewards"], strict=True):
            r.load_state_dict(s)
        self.raw_obs = np.array(state["raw_obs"], copy=True)

    def non_finite(self) -> str | None:
        for r in self.rewards:
            bad = r.non_finite()
            if bad is not None:
                return bad
        return None
