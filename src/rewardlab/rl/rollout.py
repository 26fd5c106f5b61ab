"""PPO's rollout-collection seam: who steps the environments and samples the actions.

An on-policy learner needs, once per iteration, a :class:`Rollout`: T steps of N envs with the
observations, the sampled actions and their log-probabilities, the raw rewards and the episode ends.
What it asks is ``collector.collect(policy, n_steps)``; where the envs run is the collector's
business. Two collectors exist:

:class:`RolloutWorker`   a vector env, its current observation and the sampling loop. The default
                         collector is one of these in the driver, sharing the learner's policy
                         module, observation normaliser and reward streams, and drawing actions
                         from torch's global generator (today's PPO, bit for bit).
:class:`RolloutWorkers`  W rollout workers of E envs each (``backend = "local"``: in this process,
                         one after the other; ``"ray"``: W Ray actors, in parallel). Each holds a
                         copy of the policy, receives the weights once per iteration (one
                         ``ray.put``), samples with its own generator seeded from (seed, worker)
                         and returns its rollout; the rollouts are joined in worker order. The two
                         backends run the same objects, so ``local(W, E) == ray(W, E)`` bit for bit
                         (tests/scale/test_rollout_workers.py). This is RLlib's EnvRunner design
                         (``num_env_runners = 0`` is its local switch).

A Ray worker that dies mid-iteration (its process killed, the node lost) is restarted from its
state at the start of the iteration and the iteration re-sampled, up to ``max_restarts`` times;
the re-sampled rollout is the one the dead worker would have returned, so the run's numbers do not
change. Then the run stops with an error naming the worker, and its last checkpoint is kept.

An env or a policy that *raises* inside a worker is a different failure, and both backends treat it
alike: the run stops with a :class:`RolloutWorkerError` naming the worker, the exception and the
last good checkpoint, and nothing is retried. The worker's state at the start of the iteration is a
pure function of the checkpoint, and so is everything it does from there (seeded envs, its own
generator), so a retry would replay the same steps into the same exception; a process death is
retried because its cause lies outside that state. (With ``backend = "local"`` a process death
is the driver's own: the run ends, and ``--resume`` continues from the last checkpoint.) The
exception stays attached as ``__cause__``, for the traceback.

The critic stays on the driver: the workers return observations, and the learner values them in
one batched pass after the rollout (the critic does not change during a rollout).

Devices (``device = "cuda"``, rewardlab.core.device): the driver's collector samples with the
learner's policy on the learner's device; rollout workers hold CPU copies (an env-bound small
network gains nothing from a GPU, and a Ray worker may have none), receive CPU weights, and their
rollouts move to the learner's device when they are joined. Actions reach the envs through ``.cpu()``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from torch import nn

from rewardlab.core.envstate import snapshot_env
from rewardlab.core.state import ENV, TENSOR, TORCH_RNG, Stateful
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rl.common import evaluate_policy, final_observations
from rewardlab.rl.distributions import Categorical, DiagGaussian

BACKENDS = ("driver", "local", "ray")


class RolloutWorkerError(RewardlabError):
    """A rollout worker failed mid-iteration (it raised, or it died more often than allowed); the run
    stopped and its last good checkpoint is kept."""


def worker_raised(index: int, backend: str, error: BaseException) -> RolloutWorkerError:
    """The error for a worker whose env or policy raised: the same words for both backends."""
    return RolloutWorkerError(
        f"rollout worker {index} (backend = {backend!r}) raised {type(error).__name__}: {error}. Not retried: "
        "the worker would replay the same steps from the same state. The run stopped, its last good "
        "checkpoint is kept: fix the cause, then resume with --resume."
    )


# ---------------------------------------------------------------------------------------------
# What a collector returns, and what it needs of the policy


@dataclass
class Rollout:
    """T steps of N envs, time-major. ``obs`` is what the actor saw (normalised when the learner
    normalises observations); ``critic_obs`` the privileged part only the critic sees (or None);
    ``finals`` the last observation of each episode cut by a time limit, ``(t, env indices,
    actor obs, critic obs)`` per step where any was cut, for the bootstrap V(final obs)."""

    obs: torch.Tensor  # (T, N, D)
    actions: torch.Tensor  # (T, N) long, or (T, N, A)
    logp: torch.Tensor  # (T, N)
    rewards: np.ndarray  # (T, N) float64, the env's reward before any normalisation
    terminated: np.ndarray  # (T, N) bool
    truncated: np.ndarray  # (T, N) bool
    last_obs: torch.Tensor  # (N, D): the observation the next rollout starts from
    finals: list[tuple[int, list[int], torch.Tensor, torch.Tensor | None]]
    critic_obs: torch.Tensor | None = None  # (T, N, P)
    last_critic_obs: torch.Tensor | None = None  # (N, P)

    def to(self, device: torch.device) -> Rollout:
        """This rollout with its tensors on ``device`` (itself when they are there already: no copy)."""
        if self.obs.device == device:
            return self
        move = lambda x: None if x is None else x.to(device)  # noqa: E731
        return Rollout(
            obs=move(self.obs), actions=move(self.actions), logp=move(self.logp), rewards=self.rewards,
            terminated=self.terminated, truncated=self.truncated, last_obs=move(self.last_obs),
            finals=[(t, idx, move(o), move(c)) for t, idx, o, c in self.finals],
            critic_obs=move(self.critic_obs), last_critic_obs=move(self.last_critic_obs),
        )  # fmt: skip

    @staticmethod
    def join(parts: list[Rollout]) -> Rollout:
        """The rollouts of several workers as one, envs in worker order (worker i's env j is env
        i * E + j, as in one vector env of W * E envs)."""
        if len(parts) == 1:
            return parts[0]
        cat1 = lambda xs: xs[0] if xs[0] is None else torch.cat(xs, dim=1)  # noqa: E731 - env axis of (T, N, ...)
        cat0 = lambda xs: xs[0] if xs[0] is None else torch.cat(xs, dim=0)  # noqa: E731 - env axis of (N, ...)
        by_step: dict[int, list[tuple[list[int], torch.Tensor, torch.Tensor | None]]] = {}
        offset = 0
        for part in parts:
            for t, idx, obs, critic in part.finals:
                by_step.setdefault(t, []).append(([offset + i for i in idx], obs, critic))
            offset += part.rewards.shape[1]
        finals = [
            (t, [i for idx, _, _ in group for i in idx], torch.cat([o for _, o, _ in group]),
             cat0([c for _, _, c in group]))
            for t, group in sorted(by_step.items())
        ]  # fmt: skip
        return Rollout(
            obs=cat1([p.obs for p in parts]),
            actions=cat1([p.actions for p in parts]),
            logp=cat1([p.logp for p in parts]),
            rewards=np.concatenate([p.rewards for p in parts], axis=1),
            terminated=np.concatenate([p.terminated for p in parts], axis=1),
            truncated=np.concatenate([p.truncated for p in parts], axis=1),
            last_obs=cat0([p.last_obs for p in parts]),
            finals=finals,
            critic_obs=cat1([p.critic_obs for p in parts]),
            last_critic_obs=cat0([p.last_critic_obs for p in parts]),
        )


class Policy:
    """The acting half of an actor-critic: the actor network, the Gaussian's state-independent log
    std (None for discrete actions) and the env's action bounds. Rollout workers hold a copy."""

    def __init__(self, actor: nn.Module, log_std: torch.Tensor | None, low=None, high=None):
        self.actor, self.log_std, self.low, self.high = actor, log_std, low, high
        self.discrete = log_std is None
        self.device = next(actor.parameters()).device  # where observations must go

    def distribution(self, obs: torch.Tensor) -> Categorical | DiagGaussian:
        out = self.actor(obs)
        return Categorical(out) if self.discrete else DiagGaussian(out, self.log_std)

    def env_action(self, action: torch.Tensor) -> np.ndarray:
        a = action.cpu().numpy()
        if not self.discrete:  # the Gaussian is unbounded; the env gets the clipped action (SB3)
            a = np.clip(a, self.low, self.high)
        return a

    def weights(self) -> dict[str, Any]:
        """On the CPU, for CPU workers (``.cpu()`` is the tensor itself when it is there already)."""
        actor = {k: v.cpu() for k, v in self.actor.state_dict().items()}
        return {"actor": actor, "log_std": None if self.discrete else self.log_std.detach().cpu()}

    def load_weights(self, weights: dict[str, Any]) -> None:
        self.actor.load_state_dict(weights["actor"])
        if not self.discrete:
            with torch.no_grad():
                self.log_std.copy_(weights["log_std"])

    def copy(self, device: torch.device | str | None = None) -> Policy:
        """An independent copy (no random numbers drawn: the weights are copied, not initialised),
        on ``device`` when given."""
        out = copy.deepcopy(self)
        if device is not None and torch.device(device) != self.device:
            out.actor.to(device)
            if out.log_std is not None:
                out.log_std = nn.Parameter(out.log_std.detach().to(device))
            out.device = torch.device(device)
        return out


def denormals_flushed() -> bool:
    """Whether this process flushes subnormal floats to zero now (rewardlab's training loop does):
    a Ray worker must do the same for its actions to equal the driver's, bit for bit."""
    return bool((torch.tensor([1e-39]) * 1.0)[0] == 0)


def worker_seed(seed: int, index: int) -> int:
    """The seed of worker ``index``'s action generator: independent streams per worker, a pure
    function of (seed, index) whatever backend runs the worker."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def worker_envs(env_id: str, env_kwargs: dict[str, Any], num_envs: int) -> SyncVectorEnv:
    """A worker's ``num_envs`` envs, built as ``make_vec_env`` builds a run's (their seeds, given at
    reset, make them the run's envs i * E ... i * E + E - 1; the snapshot index is the worker's own)."""
    fns = [functools.partial(snapshot_env, env_id, j, dict(env_kwargs)) for j in range(num_envs)]
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


# ---------------------------------------------------------------------------------------------
# One worker: a vector env and the sampling loop


class RolloutWorker(Stateful):
    """E envs, their current observation and the loop that samples T steps of a policy.

    ``envs`` is a vector env already reset (``start`` = its reset (obs, infos)) or a callable
    building one, then reset with ``reset_seeds``. ``generator_seed`` None draws actions from torch's
    global generator (the driver's default collector); else from the worker's own generator.
    ``obs_norm`` and ``streams`` (PPO's observation normaliser and reward streams) are the learner's
    own objects; only the driver's collector gets them. ``privileged`` splits observations into the
    actor's and the critic's part (:class:`rewardlab.rl.offpolicy.PrivilegedObs`); ``privileged_spec``
    builds one after the reset, for workers."""

    state_fields = {"envs": ENV, "obs": TENSOR, "critic_obs": TENSOR, "generator": TORCH_RNG}
    rebuilt_fields = ("policy", "obs_norm", "streams", "privileged")

    def __init__(
        self,
        envs: gym.vector.VectorEnv | Callable[[], gym.vector.VectorEnv],
        policy: Policy,
        *,
        start: tuple[Any, dict[str, Any]] | None = None,
        reset_seeds: list[int] | None = None,
        generator_seed: int | None = None,
        obs_norm: Any = None,
        streams: Any = None,
        privileged: Any = None,
        privileged_spec: str = "",
        env_id: str = "",
        num_threads: int | None = None,
    ):
        if num_threads is not None:  # Ray sets OMP to 1 in actors: use the driver's count, explicitly
            torch.set_num_threads(num_threads)
        self.envs = envs if isinstance(envs, gym.vector.VectorEnv) else envs()
        self.policy, self.obs_norm, self.streams = policy, obs_norm, streams
        obs, infos = start if start is not None else self.envs.reset(seed=reset_seeds)
        if privileged is None and privileged_spec:
            from rewardlab.rl.offpolicy import PrivilegedObs

            space = self.envs.single_observation_space
            privileged = PrivilegedObs(privileged_spec, env_id, space, infos, self.envs.num_envs)
        self.privileged = privileged
        self.generator = None if generator_seed is None else torch.Generator().manual_seed(generator_seed)
        self.obs = self._obs_tensor(self._actor_raw(obs))
        self.critic_obs = self._critic_extra(obs, infos)

    # -- observations ---------------------------------------------------------------------------

    def _actor_raw(self, obs: Any, single: bool = False) -> Any:
        p = self.privileged
        return obs if p is None or p.actor_keys is None else p.actor_obs(obs, single=single)

    def _obs_tensor(self, obs: np.ndarray, update: bool = True) -> torch.Tensor:
        obs = obs.reshape(obs.shape[0], -1)
        if self.obs_norm is not None:
            obs = self.obs_norm(obs, update=update)
        return torch.as_tensor(obs, dtype=torch.float32, device=self.policy.device)

    def _critic_extra(self, obs: Any, infos: dict[str, Any]) -> torch.Tensor | None:
        if self.privileged is None or not self.privileged.dim:
            return None
        return torch.from_numpy(self.privileged.critic_obs(obs, infos)).to(self.policy.device)

    # -- the loop -------------------------------------------------------------------------------

    def collect(self, policy: Policy, n_steps: int) -> Rollout:
        """The default collector's entry point: ``policy`` is the learner's own (shared) policy."""
        self.policy = policy
        return self.sample(n_steps)

    def sample(
        self, n_steps: int, weights: dict[str, Any] | None = None, flush: bool | None = None
    ) -> Rollout:
        """``n_steps`` steps of every env with the policy (after loading ``weights``, if given)."""
        if weights is not None:
            self.policy.load_weights(weights)
        if flush is not None:
            torch.set_flush_denormal(flush)
        T, N = n_steps, self.envs.num_envs
        obs_l, act_l, logp_l, critic_l = [], [], [], []
        rewards = np.zeros((T, N))
        terminated = np.zeros((T, N), dtype=bool)
        truncated = np.zeros((T, N), dtype=bool)
        finals: list[tuple[int, list[int], torch.Tensor, torch.Tensor | None]] = []
        with torch.no_grad():
            for t in range(T):
                dist = self.policy.distribution(self.obs)
                action = dist.sample(self.generator)
                obs_l.append(self.obs)
                critic_l.append(self.critic_obs)
                act_l.append(action)
                logp_l.append(dist.log_prob(action))

                env_action = self.policy.env_action(action)
                obs, reward, term, trunc, infos = self.envs.step(env_action)
                if self.streams is not None:
                    self.streams.record(t, env_action, obs, term, trunc, infos)
                rewards[t], terminated[t], truncated[t] = reward, term, trunc
                if trunc.any():  # the learner bootstraps time limits from V(final observation)
                    cut = final_observations(infos, trunc & ~term)
                    if cut:
                        idx = list(cut)
                        final = self._obs_tensor(
                            np.stack([self._actor_raw(cut[i], single=True) for i in idx]), update=False
                        )
                        critic = None
                        if self.critic_obs is not None:
                            critic = torch.from_numpy(
                                np.stack([self.privileged.final_critic_obs(cut[i], infos, i) for i in idx])
                            ).to(self.policy.device)
                        finals.append((t, idx, final, critic))
                self.obs = self._obs_tensor(self._actor_raw(obs))
                self.critic_obs = self._critic_extra(obs, infos)
        return Rollout(
            obs=torch.stack(obs_l),
            actions=torch.stack(act_l),
            logp=torch.stack(logp_l),
            rewards=rewards,
            terminated=terminated,
            truncated=truncated,
            last_obs=self.obs,
            finals=finals,
            critic_obs=None if self.critic_obs is None else torch.stack(critic_l),
            last_critic_obs=self.critic_obs,
        )

    def evaluate(
        self,
        env_id: str,
        env_kwargs: dict[str, Any],
        episodes: int,
        seed: int,
        weights: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Deterministic episodes on fresh envs seeded ``seed, seed + 1, ...`` (``evaluate_policy``)."""
        if weights is not None:
            self.policy.load_weights(weights)

        def act(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                mode = self.policy.distribution(self._obs_tensor(self._actor_raw(obs), update=False)).mode()
                return mode.cpu().numpy() if self.policy.discrete else self.policy.env_action(mode)

        return evaluate_policy(env_id, act, episodes, seed, env_kwargs)

    def sample_and_state(self, n_steps: int, weights: dict[str, Any], flush: bool) -> tuple[Rollout, dict]:
        """A rollout and the worker's state after it: the state a restarted worker resumes from."""
        rollout = self.sample(n_steps, weights, flush)
        return rollout, self.state_dict()

    def close(self) -> None:
        self.envs.close()


# ---------------------------------------------------------------------------------------------
# W workers, in this process or as Ray actors


class RolloutWorkers:
    """``num_workers`` rollout workers of ``envs_per_worker`` envs each; see the module docstring."""

    def __init__(
        self,
        backend: str,
        env_id: str,
        env_kwargs: dict[str, Any],
        policy: Policy,
        *,
        num_workers: int,
        envs_per_worker: int,
        seed: int,
        privileged_spec: str = "",
        max_restarts: int = 2,
        ray_options: dict[str, Any] | None = None,
    ):
        if backend not in ("local", "ray"):
            raise ConfigError(f"config key 'backend': {backend!r} is not one of {', '.join(BACKENDS)}")
        self.backend, self.num_workers, self.max_restarts = backend, num_workers, max_restarts
        E = envs_per_worker
        self.specs = [
            dict(
                envs=functools.partial(worker_envs, env_id, dict(env_kwargs), E),
                reset_seeds=[seed + j for j in range(i * E, (i + 1) * E)],
                generator_seed=worker_seed(seed, i),
                privileged_spec=privileged_spec,
                env_id=env_id,
            )
            for i in range(num_workers)
        ]  # fmt: skip
        self._policy = policy.copy("cpu")  # workers sample on the CPU (module docstring: Devices)
        self._ray = None
        if backend == "local":
            self.workers = [RolloutWorker(policy=self._policy.copy(), **spec) for spec in self.specs]
            return
        from rewardlab.core import ray_backend

        opts = dict(ray_options or {})
        self.timeout_s = float(opts.get("timeout_s", ray_backend.DEFAULT_TIMEOUT_S))
        self.num_cpus = float(opts.get("worker_num_cpus", 0.0))
        self._ray = ray_backend.acquire(
            opts.get("address", ""), opts.get("num_cpus", 0), needed_cpus=num_workers * self.num_cpus,
            what=f"{num_workers} Ray rollout workers",
        )  # fmt: skip
        self._actor = self._ray.remote(num_cpus=self.num_cpus)(RolloutWorker)
        self.threads = torch.get_num_threads()
        self.workers = []
        try:
            self.workers = [self._start(i) for i in range(num_workers)]
            # the state each worker starts the next iteration from: what a restarted worker is given
            self.saved = (
                self._get([w.state_dict.remote() for w in self.workers], "start") if max_restarts else []
            )
        except BaseException:
            self.close()  # no actor and no cluster left behind a failed start
            raise

    # -- Ray ------------------------------------------------------------------------------------

    def _start(self, i: int) -> Any:
        return self._actor.remote(policy=self._policy, num_threads=self.threads, **self.specs[i])

    def _get(self, refs: Any, what: str) -> Any:
        from rewardlab.core import ray_backend

        return ray_backend.get(refs, self.timeout_s, f"Ray rollout workers ({what})")

    def _restart(self, i: int) -> None:
        try:
            self._ray.kill(self.workers[i])
        except Exception:  # noqa: BLE001  (it is already gone)
            pass
        self.workers[i] = self._start(i)
        self._get(self.workers[i].load_state_dict.remote(self.saved[i]), f"restore worker {i}")

    def _sample_ray(self, weights: dict[str, Any], n_steps: int, flush: bool) -> list[Rollout]:
        ray = self._ray
        ref = ray.put(weights)  # once per iteration, however many workers read it
        remote = lambda w: (  # noqa: E731 - without restarts no state needs to come back
            w.sample_and_state.remote(n_steps, ref, flush)
            if self.max_restarts
            else w.sample.remote(n_steps, ref, flush)
        )
        refs = [remote(w) for w in self.workers]
        out: list[Rollout] = []
        for i in range(self.num_workers):  # in worker order, never first-come (bit-identity)
            for attempt in range(self.max_restarts + 1):
                try:
                    rollout = ray.get(refs[i], timeout=self.timeout_s)
                    if self.max_restarts:
                        rollout, self.saved[i] = rollout
                    break
                except ray.exceptions.GetTimeoutError:
                    raise RolloutWorkerError(
                        f"Ray rollout worker {i} did not return its rollout within {self.timeout_s:g} s "
                        "(ray_timeout_s); the run stopped, its last good checkpoint is kept."
                    ) from None
                except ray.exceptions.RayTaskError as e:  # the env or policy raised: see the module docstring
                    cause = e.cause if isinstance(e.cause, BaseException) else e
                    raise worker_raised(i, "ray", cause) from cause
                except ray.exceptions.RayActorError as e:
                    if attempt == self.max_restarts:
                        cause = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                        raise RolloutWorkerError(
                            f"Ray rollout worker {i} died {attempt + 1} time(s) in one iteration ({cause}); "
                            f"max_worker_restarts = {self.max_restarts} used up. The run stopped, its last "
                            "good checkpoint is kept: resume with --resume."
                        ) from None
                    self._restart(i)  # from its state at the start of this iteration
                    refs[i] = remote(self.workers[i])
            out.append(rollout)
        return out

    # -- the collector interface ----------------------------------------------------------------

    def collect(self, policy: Policy, n_steps: int) -> Rollout:
        weights, flush = policy.weights(), denormals_flushed()
        if self.backend == "ray":
            return Rollout.join(self._sample_ray(weights, n_steps, flush)).to(policy.device)
        parts = [self._sample_local(i, n_steps, weights) for i in range(self.num_workers)]
        return Rollout.join(parts).to(policy.device)

    def _sample_local(self, i: int, n_steps: int, weights: dict[str, Any]) -> Rollout:
        try:
            return self.workers[i].sample(n_steps, weights)
        except Exception as e:  # not KeyboardInterrupt: Ctrl-C stays Ctrl-C
            raise worker_raised(i, "local", e) from e

    def evaluate(
        self, policy: Policy, env_id: str, env_kwargs: dict[str, Any], episodes: int, seed: int
    ) -> dict[str, Any]:
        """``episodes`` evaluation episodes split among the workers in blocks (worker i takes the
        episodes, and seeds, after worker i - 1's), results joined in worker order."""
        W = self.num_workers
        shares = [episodes // W + (i < episodes % W) for i in range(W)]
        starts = np.cumsum([0, *shares[:-1]])
        jobs = [(i, n, seed + int(start)) for i, (n, start) in enumerate(zip(shares, starts)) if n]
        weights = policy.weights()
        if self.backend == "ray":
            ref = self._ray.put(weights)
            refs = [self.workers[i].evaluate.remote(env_id, env_kwargs, n, s, ref) for i, n, s in jobs]
            parts = self._get(refs, "evaluate")
        else:
            parts = [self.workers[i].evaluate(env_id, env_kwargs, n, s, weights) for i, n, s in jobs]
        returns = np.concatenate([p["returns"] for p in parts])
        result = {
            "mean_return": float(returns.mean()),
            "std_return": float(returns.std()),
            "episodes": int(episodes),
            "mean_length": float(sum(p["mean_length"] * p["episodes"] for p in parts) / episodes),
            "returns": returns.tolist(),
        }
        if all("success_rate" in p for p in parts):
            result["success_rate"] = float(sum(p["success_rate"] * p["episodes"] for p in parts) / episodes)
        return result

    def state_dict(self) -> dict[str, Any]:
        if self.backend == "ray":
            states = self._get([w.state_dict.remote() for w in self.workers], "state")
        else:
            states = [w.state_dict() for w in self.workers]
        return {"workers": states}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        states = state["workers"]
        if len(states) != self.num_workers:
            raise RewardlabError(
                f"the checkpoint holds {len(states)} rollout workers but the config asks for "
                f"{self.num_workers}; resume with num_workers = {len(states)}"
            )
        if self.backend == "ray":
            self._get([w.load_state_dict.remote(s) for w, s in zip(self.workers, states)], "restore")
            self.saved = list(states) if self.max_restarts else []
        else:
            for w, s in zip(self.workers, states):
                w.load_state_dict(s)

    def close(self) -> None:
        if self._ray is None:
            for w in self.workers:
                w.close()
            return
        ray, self._ray = self._ray, None
        try:
            ray.get([w.close.remote() for w in self.workers], timeout=30)
        except Exception:  # noqa: BLE001  (closing must not hide the error that led here)
            pass
        for w in self.workers:
            try:
                ray.kill(w)
            except Exception:  # noqa: BLE001
                pass
        from rewardlab.core import ray_backend

        ray_backend.release()
