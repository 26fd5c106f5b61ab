"""Parts shared by the deep-RL algorithms: vector envs, normalisation, networks, evaluation.

Episode semantics follow Gymnasium's same-step autoreset: when a sub-environment ends, ``step``
returns the first observation of the next episode and puts the last one in ``info["final_obs"]``,
so a truncated episode can be bootstrapped from ``V(final_obs)`` without wasting a step.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.utils import RunningMeanStd
from torch import nn

from rewardlab.core.envstate import snapshot_env
from rewardlab.envs import register_gymnasium
from rewardlab.errors import ConfigError
from rewardlab.registry import check_env_id, make_env

register_gymnasium()  # at import (worker processes register them in core.envstate.snapshot_env)

# ---------------------------------------------------------------------------------------------
# Environments


def make_vec_env(
    env_id: str,
    num_envs: int,
    vectorization: str = "sync",
    env_kwargs: dict[str, Any] | None = None,
    *,
    num_workers: int = 1,
    ray_options: dict[str, Any] | None = None,
) -> gym.vector.VectorEnv:
    """A Gymnasium vector env with same-step autoreset; ``vectorization`` is ``sync``, ``async`` or
    ``ray`` (the sub-envs in ``num_workers`` Ray actors, bit-identical to ``sync``)."""
    check_env_id(env_id, kinds=("gymnasium",))
    if num_envs < 1:
        raise ConfigError(f"config key 'num_envs': must be >= 1, got {num_envs}")
    fns = [functools.partial(snapshot_env, env_id, i, dict(env_kwargs or {})) for i in range(num_envs)]
    if vectorization == "sync":
        return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    if vectorization == "async":
        return AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    if vectorization == "ray":
        from rewardlab.rl.ray_vector import RayVectorEnv

        return RayVectorEnv(fns, num_workers, **dict(ray_options or {}))
    raise ConfigError(f"config key 'vectorization': {vectorization!r} is not one of 'sync', 'async', 'ray'")


def ray_options(config: Any) -> dict[str, Any]:
    """The RayVectorEnv keyword arguments a config sets (used only when vectorization = "ray")."""
    return {
        "address": config.ray_address,
        "num_cpus": config.ray_num_cpus,
        "worker_num_cpus": getattr(config, "worker_num_cpus", 0.0),
        "timeout_s": config.ray_timeout_s,
    }


def final_observations(infos: dict[str, Any], done: np.ndarray) -> dict[int, np.ndarray]:
    """{env index: last observation of the episode that just ended} from a same-step autoreset info."""
    if not done.any():
        return {}
    final_obs = infos["final_obs"]
    return {int(i): final_obs[i] for i in np.flatnonzero(done)}


class ObsNormalizer:
    """Running mean/std observation normalisation, as Gymnasium's NormalizeObservation and SB3's
    VecNormalize (clip at 10). It lives outside the vector env because Gymnasium's vector
    normalisation wrappers refuse same-step autoreset; the statistics are Gymnasium's RunningMeanStd."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8):
        self.rms = RunningMeanStd(shape=shape)
        self.clip, self.epsilon = clip, epsilon

    def __call__(self, obs: np.ndarray, update: bool = True) -> np.ndarray:
        if update:
            self.rms.update(obs)
        return np.clip((obs - self.rms.mean) / np.sqrt(self.rms.var + self.epsilon), -self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.rms.mean.copy(), "var": self.rms.var.copy(), "count": self.rms.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rms.mean, self.rms.var, self.rms.count = (
            state["mean"].copy(),
            state["var"].copy(),
            state["count"],
        )


class RewardNormalizer:
    """Scale rewards by the running std of the discounted return (Gymnasium's NormalizeReward,
    SB3's VecNormalize): the return estimate restarts at each episode end."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8):
        self.rms = RunningMeanStd(shape=())
        self.returns = np.zeros(num_envs)
        self.gamma, self.clip, self.epsilon = gamma, clip, epsilon

    def __call__(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        self.returns[done] = 0.0
        return np.clip(rewards / np.sqrt(self.rms.var + self.epsilon), -self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {
            "var": self.rms.var,
            "mean": self.rms.mean,
            "count": self.rms.count,
            "returns": self.returns.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rms.var, self.rms.mean, self.rms.count = state["var"], state["mean"], state["count"]
        self.returns = state["returns"].copy()


class EpisodeStats:
    """Undiscounted return and length of each finished episode (the raw environment reward, before
    any normalisation); the mean of the last ``window`` episodes is what SB3 logs as ep_rew_mean."""

    def __init__(self, num_envs: int, window: int = 100):
        self.running_return = np.zeros(num_envs)
        self.running_length = np.zeros(num_envs, dtype=np.int64)
        self.returns: deque[float] = deque(maxlen=window)
        self.lengths: deque[int] = deque(maxlen=window)

    def update(self, rewards: np.ndarray, done: np.ndarray) -> None:
        self.running_return += rewards
        self.running_length += 1
        if done.any():
            for i in np.flatnonzero(done):
                self.returns.append(float(self.running_return[i]))
                self.lengths.append(int(self.running_length[i]))
            self.running_return[done] = 0.0
            self.running_length[done] = 0

    def metrics(self) -> dict[str, float]:
        if not self.returns:
            return {}
        return {
            "episode_return_mean": float(np.mean(self.returns)),
            "episode_length_mean": float(np.mean(self.lengths)),
        }

    def state_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, deque) else v.copy()) for k, v in vars(self).items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.running_return = state["running_return"].copy()
        self.running_length = state["running_length"].copy()
        self.returns = deque(state["returns"], maxlen=self.returns.maxlen)
        self.lengths = deque(state["lengths"], maxlen=self.lengths.maxlen)


# ---------------------------------------------------------------------------------------------
# Networks

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def mlp(
    in_dim: int,
    hidden: tuple[int, ...] | list[int],
    out_dim: int,
    activation: str = "tanh",
    *,
    orthogonal: bool = False,
    out_gain: float = 1.0,
) -> nn.Sequential:
    """A plain MLP. ``orthogonal=True`` uses the orthogonal init of SB3's ActorCriticPolicy and
    CleanRL's PPO (gain sqrt(2) on hidden layers, ``out_gain`` on the last, zero biases)."""
    if activation not in ACTIVATIONS:
        raise ConfigError(f"config key 'activation': {activation!r} is not one of {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden]
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(dims[-1], out_dim))
    if orthogonal:
        linears = [m for m in layers if isinstance(m, nn.Linear)]
        for i, layer in enumerate(linears):
            nn.init.orthogonal_(layer.weight, gain=out_gain if i == len(linears) - 1 else np.sqrt(2))
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def flat_dim(space: gym.Space) -> int:
    if not isinstance(space, gym.spaces.Box):
        raise ConfigError(f"observation space {space} is not supported: rewardlab's MLP policies need a Box")
    return int(np.prod(space.shape))


#: The one switch for torch's private kernels: ``torch._fused_adam_`` and ``torch._foreach_add_`` in
#: :meth:`LeanAdam.update`, ``torch._foreach_norm`` and ``torch._foreach_mul_`` in :func:`clip_grad_norm`.
#: They give the same numbers as the public ``torch.optim.Adam(fused=True).step()`` and
#: ``torch.nn.utils.clip_grad_norm_`` (tests/rl/test_private_ops.py, which also fails loudly when
#: their signatures change in a new torch) and cut the per-update overhead of small networks:
#: ``python benchmarks/private_torch_ops.py`` measures both paths. False: public torch API only.
PRIVATE_TORCH_OPS = True


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` with a thinner ``step()`` for small networks.

    The same fused kernel with the same state (so checkpoints are interchangeable and the
    numbers identical, as tested), minus the per-call grouping and bookkeeping of the generic
    ``Optimizer.step``: measured 33 us instead of 85 us per step for DQN's [256, 256] Q-network
    here, where an update's whole forward and backward pass costs about 1 ms. The first step, and
    the first after ``load_state_dict``, goes through torch's own code, which creates the state;
    with ``PRIVATE_TORCH_OPS = False`` every step does.
    """

    def __init__(self, params, lr: float, eps: float = 1e-8, betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__(params, lr=lr, betas=betas, eps=eps, fused=True)
        self._lists: list[tuple[list, list, list, list]] | None = None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._lists = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        if not set_to_none:
            return super().zero_grad(set_to_none=False)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure=None):
        # Optimizer wraps `step` in profiler/hook bookkeeping; the fast path lives in `update`.
        return self.update(closure)

    @torch.no_grad()
    def update(self, closure=None):
        """One Adam step (what ``step`` does, without the generic Optimizer bookkeeping)."""
        if not PRIVATE_TORCH_OPS:
            return torch.optim.Adam.step(self, closure)
        if self._lists is None or closure is not None:
            loss = torch.optim.Adam.step(self, closure)
            self._lists = []
            for group in self.param_groups:
                params = list(group["params"])
                states = [self.state[p] for p in params]
                self._lists.append(
                    (params, [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                     [s["step"] for s in states])
                )  # fmt: skip
            return loss
        for group, (params, exp_avgs, exp_avg_sqs, steps) in zip(self.param_groups, self._lists):
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(
                params, [p.grad for p in params], exp_avgs, exp_avg_sqs, [], steps,
                amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2,
                weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
                grad_scale=None, found_inf=None,
            )  # fmt: skip
        return None


def clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale gradients so their global L2 norm is at most ``max_norm``; returns the norm before.

    Same result as ``torch.nn.utils.clip_grad_norm_`` (factor max_norm / (norm + 1e-6), applied
    only when it is below 1, where torch multiplies by a clamped 1.0), but several times faster
    for small networks: measured 1.0 ms vs 4.3 ms per DQN update on this machine (see
    ``PRIVATE_TORCH_OPS``)."""
    if not PRIVATE_TORCH_OPS:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    if total > max_norm:
        torch._foreach_mul_(grads, max_norm / (total + 1e-6))
    return total


def first_non_finite(modules: dict[str, nn.Module]) -> str | None:
    """Name of the first parameter holding NaN or inf, e.g. ``'actor.2.weight'``, or None."""
    for prefix, module in modules.items():
        for name, p in module.named_parameters():
            if not torch.isfinite(p).all():
                return f"{prefix}.{name}"
    return None


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate_policy(
    env_id: str,
    act: Callable[[np.ndarray], np.ndarray],
    episodes: int,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` episodes in parallel on fresh envs seeded ``seed, seed+1, ...``.

    ``act`` maps a batch of raw observations to a batch of actions (deterministic policy)."""
    envs = [make_env(env_id, **dict(env_kwargs or {})) for _ in range(episodes)]
    obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    successes: dict[int, bool] = {}  # envs that report info["is_success"] at the episode end (SB3)
    active = list(range(episodes))
    while active:
        actions = act(np.stack([obs[i] for i in active]))
        still = []
        for i, a in zip(active, actions):
            obs[i], r, terminated, truncated, info = envs[i].step(a)
            returns[i] += float(r)
            lengths[i] += 1
            if not (terminated or truncated):
                still.append(i)
            elif "is_success" in info:
                successes[i] = bool(info["is_success"])
        active = still
    for env in envs:
        env.close()
    result = {
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "episodes": int(episodes),
        "mean_length": float(lengths.mean()),
        "returns": returns.tolist(),
    }
    if successes:
        result["success_rate"] = float(np.mean(list(successes.values())))
    return result


# ---------------------------------------------------------------------------------------------
# Schedules


def linear_schedule(start: float, end: float, progress: float) -> float:
    """``start`` at progress 0 -> ``end`` at progress 1 (clamped)."""
    progress = min(max(progress, 0.0), 1.0)
    return start + (end - start) * progress


# ---------------------------------------------------------------------------------------------
# Action spaces

#: which registered deep-RL algorithms take which action space (for the error a mismatch raises)
ALGORITHMS_BY_ACTION_SPACE = {"Discrete": ("dqn", "ppo"), "Box": ("ddpg", "ppo", "sac", "td3")}


def require_action_space(algo: str, env_id: str, space: gym.Space, kind: type[gym.Space]) -> None:
    """Refuse an env whose action space ``algo`` cannot act in, naming the space and the algorithms
    that take it; a Box must also be bounded, since squashing and rescaling need the bounds."""
    if not isinstance(space, kind):
        takers = ALGORITHMS_BY_ACTION_SPACE.get(type(space).__name__, ())
        use = (
            f"algorithms for {type(space).__name__} action spaces: {', '.join(takers)}"
            if takers
            else (f"no rewardlab algorithm takes {type(space).__name__} action spaces")
        )
        raise ConfigError(f"{algo} needs a {kind.__name__} action space, but {env_id} has {space}; {use}.")
    if isinstance(space, gym.spaces.Box) and not (
        np.isfinite(space.low).all() and np.isfinite(space.high).all()
    ):
        raise ConfigError(
            f"{algo} needs a bounded Box action space, but {env_id} has {space} (low {space.low}, high "
            f"{space.high}): its actions are squashed to [-1, 1] and rescaled to the bounds, which must be "
            f"finite. Wrap the env with gymnasium.wrappers.ClipAction / RescaleAction, or use ppo."
        )
