"""Proximal Policy Optimization (Schulman et al., 2017, arXiv:1707.06347).

Read top to bottom: the two pure functions (``compute_gae``, ``ppo_loss``) are the algorithm's math;
the ``PPO`` class collects rollouts from a Gymnasium vector env and runs the clipped-surrogate
updates. The update follows Stable-Baselines3's ``PPO.train`` (stable_baselines3/ppo/ppo.py):
per-minibatch advantage normalisation, MSE value loss, optional value clipping, approx-KL early
stop at 1.5 x target_kl, learning rate (and optionally clip range) annealed linearly on the
fraction of steps remaining after each rollout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rewardlab.config import RunConfig, bounds
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import OBJECT, RNG, TENSOR, VALUE
from rewardlab.errors import ConfigError
from rewardlab.rl.common import (
    EpisodeStats,
    LeanAdam,
    ObsNormalizer,
    RewardNormalizer,
    clip_grad_norm,
    evaluate_policy,
    first_non_finite,
    flat_dim,
    linear_schedule,
    make_vec_env,
    mlp,
    ray_options,
)
from rewardlab.rl.distributions import Categorical, DiagGaussian
from rewardlab.rl.rollout import BACKENDS, Policy, Rollout, RolloutWorker, RolloutWorkers
from rewardlab.rl.streams import RewardStreams, build_transition_reward


@dataclass
class PPOConfig(RunConfig):
    # Defaults: CleanRL ppo.py `Args` (4 envs x 128 steps, 4 minibatches, 4 epochs, lr 2.5e-4
    # annealed, gamma 0.99, lambda 0.95, clip 0.2, ent 0.01, vf 0.5, grad-norm 0.5), which match the
    # "37 implementation details of PPO" defaults. Names follow Stable-Baselines3's PPO.
    env: str = "CartPole-v1"
    total_steps: int = 500_000
    num_envs: int = 4
    vectorization: str = "sync"  # "sync" | "async" (Gymnasium SyncVectorEnv / AsyncVectorEnv) | "ray"
    # Who collects the rollouts (rewardlab.rl.rollout): "driver" = this process steps its vector env
    # (any vectorization); "local" | "ray" = num_workers rollout workers of envs_per_worker envs each,
    # each with a copy of the policy, in this process or as Ray actors (local(W, E) == ray(W, E)).
    backend: str = "driver"
    num_workers: int = 1  # rollout workers; with vectorization = "ray": env actors (num_envs / W envs each)
    envs_per_worker: int = field(default=0, metadata=bounds(ge=0))  # "local" | "ray": 0 = num_envs / W
    worker_num_cpus: float = 0.0  # logical CPUs each Ray actor holds (0: slow envs mostly wait)
    # backend "ray": a worker that dies is restarted from its last state this often per iteration
    max_worker_restarts: int = field(default=2, metadata=bounds(ge=0))
    n_steps: int = 128  # steps per env per rollout
    batch_size: int = 128  # minibatch size (CleanRL: 512 / 4 minibatches)
    n_epochs: int = 4
    learning_rate: float = 2.5e-4
    anneal_lr: bool = True  # linear to 0 over training (CleanRL / SB3 "lin_" schedules)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    anneal_clip_range: bool = False  # rl-zoo3's "lin_0.2"
    clip_range_vf: float | None = None  # None = no value clipping (SB3 default)
    normalize_advantage: bool = True
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None  # early-stop the epoch loop when approx KL > 1.5 x target_kl
    norm_obs: bool = False
    norm_reward: bool = False
    hidden_sizes: tuple[int, ...] = (64, 64)  # separate actor and critic MLPs (SB3 MlpPolicy)
    activation: str = "tanh"
    log_std_init: float = 0.0  # continuous actions: state-independent log std (SB3, CleanRL)
    adam_eps: float = 1e-5  # SB3 ActorCriticPolicy / CleanRL
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    # Extra reward streams (rewardlab.rl.streams): transition rewards such as [{reward = "rnd"}];
    # each with a gamma gets its own value head and advantage, weighted against ext_coef * A_ext.
    transition_rewards: list[dict[str, Any]] = field(default_factory=list)
    ext_coef: float = 1.0  # CleanRL's RND: 2.0
    # Asymmetric actor-critic: "info:<key>" (a vector in every step's and reset's info) or
    # "dict:<key>" (a part of a Dict observation) that the critic sees and the actor does not.
    privileged_obs: str = ""

    def validate(self) -> None:
        """Cross-field rules; each field's own range is declared in config.CONVENTIONAL_BOUNDS."""
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"config key 'backend': {self.backend!r} is not one of {', '.join(map(repr, BACKENDS))}"
            )
        if self.backend != "driver":
            self._validate_workers()
        if self.device != "cpu" and self.transition_rewards:
            raise ConfigError(
                f"config key 'transition_rewards' is not supported with device = {self.device!r} yet (the "
                "reward streams' networks stay on the CPU); use device = 'cpu'"
            )
        if self.privileged_obs and self.transition_rewards:
            raise ConfigError(
                "config keys 'privileged_obs' and 'transition_rewards' cannot be combined yet: the reward "
                "streams' warm-up steps the envs without keeping the info the privileged part comes from"
            )
        rollout = self.num_envs * self.n_steps
        if self.batch_size > rollout:
            raise ConfigError(
                f"config key 'batch_size': {self.batch_size} is larger than one rollout "
                f"(num_envs x n_steps = {rollout}); use batch_size <= {rollout}"
            )

    def _validate_workers(self) -> None:
        W, E, N = self.num_workers, self.envs_per_worker, self.num_envs
        if W < 1:
            raise ConfigError(f"config key 'num_workers': must be >= 1, got {W}")
        if E == 0 and N % W:
            raise ConfigError(
                f"config key 'num_workers': {W} does not divide num_envs ({N}); set envs_per_worker, "
                f"or num_workers to one of {[w for w in range(1, N + 1) if N % w == 0]}"
            )
        if E and W * E != N:
            raise ConfigError(
                f"config key 'num_envs': {N} is not num_workers x envs_per_worker ({W} x {E} = {W * E}); "
                f"set num_envs = {W * E}, or envs_per_worker = 0 to split num_envs among the workers"
            )
        if self.vectorization != "sync":
            raise ConfigError(
                f"config key 'vectorization': {self.vectorization!r} with backend = {self.backend!r}; rollout "
                "workers step their own sync vector envs (use backend = 'driver' for env actors)"
            )
        for key, hint in (("norm_obs", "the normaliser's statistics would differ per worker"),
                          ("transition_rewards", "the reward streams record every step on the driver")):  # fmt: skip
            if getattr(self, key):
                raise ConfigError(
                    f"config key {key!r} is not supported with backend = {self.backend!r} ({hint}); "
                    "use backend = 'driver' (with vectorization = 'ray' for slow envs)"
                )


# ---------------------------------------------------------------------------------------------
# The math, as pure functions


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminations: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized Advantage Estimation (Schulman et al., 2016), all tensors (T, num_envs).

    ``next_values[t]`` is V of the state reached by step t: the next row's value inside an
    episode, V(final_obs) when the episode was *truncated* there (so a time limit bootstraps), and
    anything when it *terminated* (masked by ``1 - terminations``). ``dones`` = terminated or
    truncated cuts the lambda-trace at episode boundaries. Returns (advantages, returns).
    """
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    not_terminal = 1.0 - terminations
    not_done = 1.0 - dones
    for t in range(rewards.shape[0] - 1, -1, -1):
        delta = rewards[t] + gamma * next_values[t] * not_terminal[t] - values[t]
        last = delta + gamma * gae_lambda * not_done[t] * last
        advantages[t] = last
    return advantages, advantages + values


def ppo_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    *,
    clip_range: float,
    clip_range_vf: float | None = None,
    ent_coef: float = 0.0,
    vf_coef: float = 0.5,
    normalize_advantage: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate + value + entropy loss for one minibatch (1-D tensors).

    loss = -mean(min(r A, clip(r, 1-eps, 1+eps) A)) + vf_coef * mean((R - V)^2) - ent_coef * mean(H)
    with r = exp(logprobs - old_logprobs), as SB3's PPO.train. Returns (loss, detached terms:
    policy_loss, value_loss, entropy and the per-sample log_ratio for :func:`ppo_diagnostics`).
    """
    if normalize_advantage and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_ratio = logprobs - old_logprobs
    ratio = log_ratio.exp()
    surrogate = torch.min(advantages * ratio, advantages * ratio.clamp(1 - clip_range, 1 + clip_range))
    policy_loss = -surrogate.mean()
    if clip_range_vf is not None:
        values = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
    value_loss = (returns - values).pow(2).mean()
    if values.dim() > 1:  # one column per reward stream: the heads' losses add up (CleanRL's RND)
        value_loss = (returns - values).pow(2).mean(0).sum()
    entropy_mean = entropy.mean()
    loss = policy_loss + vf_coef * value_loss
    if ent_coef != 0.0:  # skipped when 0 so the entropy needs no gradient (same loss value)
        loss = loss - ent_coef * entropy_mean
    terms = {
        "policy_loss": policy_loss.detach(),
        "value_loss": value_loss.detach(),
        "entropy": entropy_mean.detach(),
        "log_ratio": log_ratio.detach(),
    }
    return loss, terms


def ppo_diagnostics(log_ratio: torch.Tensor, clip_range: float) -> dict[str, torch.Tensor]:
    """approx_kl = mean((r - 1) - log r) (Schulman's low-variance estimator, as SB3 and CleanRL) and
    clip_fraction = mean(|r - 1| > clip_range) over the given log-ratios."""
    ratio = log_ratio.exp()
    return {
        "approx_kl": ((ratio - 1) - log_ratio).mean(),
        "clip_fraction": ((ratio - 1).abs() > clip_range).float().mean(),
    }


# ---------------------------------------------------------------------------------------------
# The algorithm


class PPO(Algorithm):
    config_class = PPOConfig
    summary = "Proximal Policy Optimization, discrete and continuous actions (Schulman et al. 2017)"
    gpu_ready = True  # rewardlab.core.device: networks and the update on config.device
    state_fields = {
        "actor": OBJECT, "critic": OBJECT, "log_std": TENSOR, "optimizer": OBJECT, "np_rng": RNG,
        "collector": OBJECT, "obs_norm": OBJECT, "reward_norm": OBJECT, "stats": OBJECT,
        "iteration": VALUE, "streams": OBJECT,  # streams: the transition rewards (None without them)
    }  # fmt: skip
    # policy: the actor and log_std (declared above) with the action bounds; privileged: from the config
    rebuilt_fields = ("discrete", "action_low", "action_high", "params", "policy", "privileged")

    def __init__(self, config: PPOConfig):
        super().__init__(config)
        c = self.config = config
        if c.backend != "driver":
            c.validate()  # the worker layout, also when PPO is built without a Run
        torch.manual_seed(c.seed)
        self.np_rng = np.random.default_rng(c.seed)
        if c.backend == "driver":
            envs = make_vec_env(c.env, c.num_envs, c.vectorization, c.env_kwargs, num_workers=c.num_workers,
                                ray_options=ray_options(c))  # fmt: skip
        else:  # the workers build their own envs: this one only tells the spaces (and the reset info)
            envs = make_vec_env(c.env, 1, "sync", c.env_kwargs)
        try:
            self._build(envs)
        except BaseException:
            envs.close()
            raise

    def _build(self, envs: gym.vector.VectorEnv) -> None:
        c = self.config
        obs_space, act_space = envs.single_observation_space, envs.single_action_space
        obs, infos = envs.reset(seed=c.seed) if c.backend == "driver" or c.privileged_obs else (None, {})
        self.privileged = None
        if c.privileged_obs:
            from rewardlab.rl.offpolicy import PrivilegedObs

            self.privileged = PrivilegedObs(c.privileged_obs, c.env, obs_space, infos, envs.num_envs)
        obs_dim = self.privileged.actor_dim if self.privileged is not None else flat_dim(obs_space)
        self.discrete = isinstance(act_space, gym.spaces.Discrete)
        if self.discrete:
            out_dim = int(act_space.n)
            self.log_std = None
        elif isinstance(act_space, gym.spaces.Box):
            out_dim = int(np.prod(act_space.shape))
            self.log_std = nn.Parameter(torch.full((out_dim,), float(c.log_std_init), device=self.device))
            self.action_low = act_space.low.reshape(-1)
            self.action_high = act_space.high.reshape(-1)
        else:
            raise ConfigError(f"PPO supports Discrete and Box action spaces; {c.env} has {act_space}")
        self.streams: RewardStreams | None = None
        if c.transition_rewards:
            rewards = [
                build_transition_reward(spec, f"config key 'transition_rewards[{i}]'", obs_space, act_space,
                                        c.num_envs, seed=c.seed + 1 + i)
                for i, spec in enumerate(c.transition_rewards)
            ]  # fmt: skip
            self.streams = RewardStreams(rewards, c.ext_coef, c.num_envs, c.n_steps, obs_space.shape)
        n_values = 1 + (self.streams.n_heads if self.streams is not None else 0)  # critic heads
        critic_dim = obs_dim + (self.privileged.dim if self.privileged is not None else 0)
        # initialised on the CPU (the same draws whatever the device), then moved
        self.actor = mlp(obs_dim, c.hidden_sizes, out_dim, c.activation, orthogonal=True, out_gain=0.01)
        self.critic = mlp(critic_dim, c.hidden_sizes, n_values, c.activation, orthogonal=True, out_gain=1.0)
        self.actor.to(self.device)
        self.critic.to(self.device)
        params = [*self.actor.parameters(), *self.critic.parameters()]
        if self.log_std is not None:
            params.append(self.log_std)
        self.params = params
        self.optimizer = LeanAdam(params, lr=c.learning_rate, eps=c.adam_eps)
        self.policy = Policy(self.actor, self.log_std, getattr(self, "action_low", None),
                             getattr(self, "action_high", None))  # fmt: skip
        if self.streams is not None:
            self.streams.bind_policy(self.log_prob)  # AIRL's discriminator scores log pi(a|s)

        norm_shape = obs_space.shape if self.privileged is None else (obs_dim,)
        self.obs_norm = ObsNormalizer(norm_shape) if c.norm_obs else None
        self.reward_norm = RewardNormalizer(c.num_envs, c.gamma) if c.norm_reward else None
        self.stats = EpisodeStats(c.num_envs)
        self.iteration = 0
        self.collector: RolloutWorker | RolloutWorkers
        if c.backend == "driver":
            if self.streams is not None:
                obs = self.streams.warmup(envs, obs, seed=c.seed + 10_000)
            self.collector = RolloutWorker(envs, self.policy, start=(obs, infos), obs_norm=self.obs_norm,
                                           streams=self.streams, privileged=self.privileged)  # fmt: skip
        else:
            envs.close()
            self.collector = RolloutWorkers(
                c.backend, c.env, c.env_kwargs, self.policy, num_workers=c.num_workers,
                envs_per_worker=c.envs_per_worker or c.num_envs // c.num_workers, seed=c.seed,
                privileged_spec=c.privileged_obs, max_restarts=c.max_worker_restarts, ray_options=ray_options(c),
            )  # fmt: skip

    @property
    def envs(self) -> gym.vector.VectorEnv | None:
        """The driver's vector env (None when rollout workers hold the envs)."""
        return getattr(self.collector, "envs", None)

    @property
    def next_obs(self) -> torch.Tensor:
        """The observation the driver's next rollout starts from (what the actor sees)."""
        return self.collector.obs

    # -- policy ---------------------------------------------------------------------------------

    def _obs_tensor(self, obs: Any) -> torch.Tensor:
        """Raw observations -> the actor's input, without updating the normaliser (evaluation)."""
        if self.privileged is not None and self.privileged.actor_keys is not None:
            obs = self.privileged.actor_obs(obs)
        obs = obs.reshape(obs.shape[0], -1)
        if self.obs_norm is not None:
            obs = self.obs_norm(obs, update=False)
        return torch.as_tensor(obs, dtype=torch.float32, device=self.device)

    @staticmethod
    def _critic_input(obs: torch.Tensor, privileged: torch.Tensor | None) -> torch.Tensor:
        """What the critic sees: the actor's observation, plus the privileged part (asymmetric)."""
        return obs if privileged is None else torch.cat([obs, privileged], dim=-1)

    def _distribution(self, obs: torch.Tensor) -> Categorical | DiagGaussian:
        return self.policy.distribution(obs)

    def _logp_entropy(
        self, obs: torch.Tensor, actions: torch.Tensor, entropy_grad: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dist = self._distribution(obs)
        # without an entropy bonus the entropy is only logged: no graph for it
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            entropy = dist.entropy()
        return dist.log_prob(actions), entropy

    def log_prob(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``log pi(a|s)`` under the current policy for raw observations and the actions the env
        received (discrete: the sampled ones), as float64; draws no random numbers."""
        with torch.no_grad():
            dist = self._distribution(self._obs_tensor(np.asarray(obs)))
            a = torch.as_tensor(np.asarray(actions), device=self.device)
            a = a.reshape(-1).long() if self.discrete else a.reshape(len(a), -1).float()
            return dist.log_prob(a).double().cpu().numpy()

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic actions (argmax / Gaussian mean) for a batch of raw observations."""
        with torch.no_grad():
            mode = self._distribution(self._obs_tensor(obs)).mode()
            return mode.cpu().numpy() if self.discrete else self.policy.env_action(mode)

    # -- one iteration: rollout + update ---------------------------------------------------------

    def step(self) -> dict[str, float]:
        c = self.config
        T, N = c.n_steps, c.num_envs
        rollout = self.collector.collect(self.policy, T)  # on self.device
        tensor = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731 - the numpy/env boundary
        done = rollout.terminated | rollout.truncated
        rewards = np.zeros((T, N), dtype=np.float32)
        for t in range(T):  # neither changes what the policy did, so both may run after the rollout
            self.stats.update(rollout.rewards[t], done[t])
            rewards[t] = (
                rollout.rewards[t]
                if self.reward_norm is None
                else self.reward_norm(rollout.rewards[t], done[t])
            )
        terminations = rollout.terminated.astype(np.float32)
        dones = done.astype(np.float32)

        with torch.no_grad():
            # time limits bootstrap from V(final observation)
            n_heads = self.critic[-1].out_features
            truncated_values = torch.zeros((T, N) if n_heads == 1 else (T, N, n_heads), device=self.device)
            truncated_mask = np.zeros((T, N), dtype=bool)
            for t, idx, final, privileged in rollout.finals:
                truncated_values[t, idx] = self.critic(self._critic_input(final, privileged)).squeeze(-1)
                truncated_mask[t, idx] = True
            # The critic is fixed during the rollout: value every visited state in one batched pass.
            critic_obs = self._critic_input(rollout.obs, rollout.critic_obs).reshape(T * N, -1)
            last = self._critic_input(rollout.last_obs, rollout.last_critic_obs)
            values = self.critic(torch.cat([critic_obs, last])).squeeze(-1)
            value_buf = values[: T * N].reshape(T, N, *values.shape[1:])
            last_value = values[T * N :]

        self.global_step += T * N
        next_values = torch.cat([value_buf[1:], last_value.unsqueeze(0)])
        stream_metrics: dict[str, float] = {}
        if self.streams is None:
            next_values = torch.where(tensor(truncated_mask), truncated_values, next_values)
            advantages, returns = compute_gae(
                tensor(rewards), value_buf, next_values, tensor(terminations), tensor(dones), c.gamma, c.gae_lambda
            )  # fmt: skip
        else:
            added, stream_rewards, stream_metrics = self.streams.score()
            heads = lambda x: x if x.dim() == 3 else x.unsqueeze(-1)  # noqa: E731 - (T, N[, K]) -> (T, N, K)
            mask = torch.from_numpy(truncated_mask).unsqueeze(-1)
            advantages, returns = self.streams.advantages(
                compute_gae, torch.from_numpy(rewards + added.astype(np.float32)), heads(value_buf),
                heads(next_values), torch.where(mask, heads(truncated_values), heads(next_values)),
                torch.from_numpy(terminations), torch.from_numpy(dones), stream_rewards, c.gamma, c.gae_lambda,
            )  # fmt: skip
            returns = returns.squeeze(-1)
        metrics = self._update(rollout, critic_obs, value_buf, advantages.reshape(-1), returns.flatten(0, 1))
        self.iteration += 1
        metrics.update(self.stats.metrics())
        metrics.update(stream_metrics)
        return metrics

    def _update(
        self,
        rollout: Rollout,
        critic_obs: torch.Tensor,
        value_buf: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor,
    ) -> dict[str, float]:
        c = self.config
        # SB3 semantics: schedules read the fraction of steps remaining after this rollout.
        progress = self.global_step / c.total_steps
        lr = linear_schedule(c.learning_rate, 0.0, progress) if c.anneal_lr else c.learning_rate
        clip_range = linear_schedule(c.clip_range, 0.0, progress) if c.anneal_clip_range else c.clip_range
        for group in self.optimizer.param_groups:
            group["lr"] = lr

        obs = rollout.obs.reshape(-1, rollout.obs.shape[-1])
        actions = (
            rollout.actions.reshape(-1)
            if self.discrete
            else rollout.actions.reshape(-1, rollout.actions.shape[-1])
        )
        old_logp = rollout.logp.reshape(-1)
        old_values = value_buf.flatten(0, 1)
        n = obs.shape[0]
        terms: dict[str, list[torch.Tensor]] = {
            "loss": [],
            "policy_loss": [],
            "value_loss": [],
            "entropy": [],
        }
        log_ratios: list[torch.Tensor] = []
        # The entropy only enters the loss when ent_coef != 0; otherwise it is computed for logging only.
        need_entropy_grad = c.ent_coef != 0.0
        for _ in range(c.n_epochs):
            perm = torch.randperm(n)
            for start in range(0, n, c.batch_size):
                idx = perm[start : start + c.batch_size]
                logp, entropy = self._logp_entropy(obs[idx], actions[idx], entropy_grad=need_entropy_grad)
                values = self.critic(critic_obs[idx]).squeeze(-1)
                loss, mb = ppo_loss(
                    logp, old_logp[idx], advantages[idx], values, old_values[idx], returns[idx], entropy,
                    clip_range=clip_range, clip_range_vf=c.clip_range_vf, ent_coef=c.ent_coef,
                    vf_coef=c.vf_coef, normalize_advantage=c.normalize_advantage,
                )  # fmt: skip
                # SB3: stop before the update once the new policy has moved too far from the old one
                if (
                    c.target_kl is not None
                    and ppo_diagnostics(mb["log_ratio"], clip_range)["approx_kl"] > 1.5 * c.target_kl
                ):
                    break
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                clip_grad_norm(self.params, c.max_grad_norm)
                self.optimizer.update()
                terms["loss"].append(loss.detach())
                for k in ("policy_loss", "value_loss", "entropy"):
                    terms[k].append(mb[k])
                log_ratios.append(mb["log_ratio"])
            else:
                continue
            break  # the target-KL break left the minibatch loop: leave the epoch loop too
        updates = len(log_ratios)
        metrics: dict[str, float] = {}
        if updates:
            # one reduction per metric at the end instead of several small ops per minibatch
            summary = {k: torch.stack(v).mean() for k, v in terms.items()}
            summary.update(ppo_diagnostics(torch.cat(log_ratios), clip_range))
            metrics = dict(zip(summary, torch.stack(list(summary.values())).tolist()))
        if returns.dim() > 1:  # reward streams: explained variance of the extrinsic head
            returns, old_values = returns[:, 0], old_values[:, 0]
        var_returns = returns.var()
        metrics["explained_variance"] = (
            float(1 - (returns - old_values).var() / var_returns) if var_returns > 0 else 0.0
        )
        metrics.update(learning_rate=lr, clip_range=clip_range, n_updates=float(updates))
        if self.log_std is not None:
            metrics["action_std"] = float(self.log_std.detach().exp().mean())
        return metrics

    # -- evaluation, state ----------------------------------------------------------------------

    def evaluate(self, episodes: int) -> dict[str, Any]:
        if isinstance(self.collector, RolloutWorkers):  # on the workers, in parallel with backend = "ray"
            c = self.config
            return self.collector.evaluate(self.policy, c.env, c.env_kwargs, episodes, seed=c.seed + 10_000)
        return evaluate_policy(self.config.env, self.predict, episodes, seed=self.config.seed + 10_000,
                               env_kwargs=self.config.env_kwargs)  # fmt: skip

    def parameters_finite(self) -> str | None:
        modules: dict[str, nn.Module] = {"actor": self.actor, "critic": self.critic}
        bad = first_non_finite(modules)
        if bad is None and self.log_std is not None and not torch.isfinite(self.log_std).all():
            bad = "log_std"
        if bad is None and self.streams is not None:
            bad = self.streams.non_finite()
        return bad

    def close(self) -> None:
        self.collector.close()
