"""The bandit policies as :class:`~rewardlab.core.algorithm.Algorithm` s, so they run inside the Run.

One ``step()`` plays ``rounds_per_step`` rounds (default 1000: per-round metrics would swamp
metrics.jsonl and the Python overhead of a step); ``global_step`` counts rounds. The metrics are
``cumulative_regret`` (exact pseudo-regret from the env's oracle; the curve ``rewardlab plot``
draws), ``regret_per_round`` and ``reward_mean`` of the chunk. Restless bandits have no closed-form
oracle, so their curve is ``reward_mean``.

Each config is one flat dataclass: the Run's fields, the environment's parameters (``--set
arms=10``) and the policy's hyper-parameters, with their published defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rewardlab.bandits.base import simulate
from rewardlab.config import RunConfig
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import OBJECT, RNG, VALUE, spawn_rngs
from rewardlab.errors import ConfigError

K_ARMED_ENVS = ("bernoulli-bandit", "gaussian-bandit", "linear-bandit", "dynamical-linear-bandit")
LINEAR_ENVS = ("linear-bandit", "dynamical-linear-bandit")


@dataclass
class BanditConfig(RunConfig):
    env: str = "bernoulli-bandit"
    total_steps: int = 100_000  # rounds
    eval_episodes: int = 10  # greedy-policy episodes of eval_rounds rounds each
    eval_rounds: int = 100
    rounds_per_step: int = 1000  # rounds played per Run step (one metrics line)
    # --- environment ---
    arms: int = 10
    means: list[float] = field(default_factory=list)  # K-armed arm means; empty: drawn from instance_seed
    instance_seed: int = 0  # the problem instance; `seed` drives the reward noise and the policy
    noise_std: float | None = None  # None: env default (Gaussian 1.0, linear 0.1, dynamical 0.01 as in DLB)
    dim: int = 5  # linear bandit feature dimension
    sparsity: int = 0  # non-zero coordinates of theta; 0 = dense
    misspecification: float = 0.0  # bound epsilon on the non-linear part of the mean reward
    linear_model: str = "shared"  # "shared" theta, or "disjoint" (one theta per arm, Li et al. 2010)
    budget: int = 3  # restless: arms activated per round
    states: int = 2  # restless: states per arm
    restless_instance: str = "two-type"  # "two-type" (Whittle != myopic) or "random"

    def validate(self) -> None:
        for key in ("arms", "rounds_per_step", "eval_rounds", "dim", "states", "budget"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.means and len(self.means) != self.arms:
            raise ConfigError(f"means has {len(self.means)} entries but arms={self.arms}; "
                              f"set both consistently (e.g. --set arms={len(self.means)})")


def make_env(config: BanditConfig, *, n_runs: int = 1, seed: int = 0) -> Any:
    """Build the environment named by ``config.env`` from the config's env fields."""
    from rewardlab.bandits import ENVS

    name = config.env
    if name == "bernoulli-bandit":
        from rewardlab.bandits.envs import BernoulliBandit

        means = config.means or np.random.default_rng(config.instance_seed).random(config.arms).tolist()
        return BernoulliBandit(means, n_runs=n_runs, seed=seed)
    if name == "gaussian-bandit":
        from rewardlab.bandits.envs import GaussianBandit

        means = config.means or np.random.default_rng(config.instance_seed).standard_normal(config.arms).tolist()
        return GaussianBandit(means, 1.0 if config.noise_std is None else config.noise_std, n_runs=n_runs,
                              seed=seed)
    if name == "linear-bandit":
        from rewardlab.bandits.envs import LinearBandit

        return LinearBandit(config.arms, config.dim, sparsity=config.sparsity,
                            misspecification=config.misspecification,
                            noise_std=0.1 if config.noise_std is None else config.noise_std,
                            linear_model=config.linear_model, n_runs=n_runs, seed=seed,
                            instance_seed=config.instance_seed)
    if name == "dynamical-linear-bandit":
        from rewardlab.bandits.dynamical import DynamicalLinearBandit

        return DynamicalLinearBandit(noise_std=config.noise_std, n_runs=n_runs, seed=seed)
    if name == "restless-bandit":
        from rewardlab.bandits.restless import RestlessBandit, random_instance, two_type_instance

        if config.restless_instance == "two-type":
            p, r = two_type_instance(config.arms, config.states)
        elif config.restless_instance == "random":
            p, r = random_instance(config.arms, config.states, np.random.default_rng(config.instance_seed))
        else:
            raise ConfigError(f"restless_instance must be 'two-type' or 'random', got {config.restless_instance!r}")
        return RestlessBandit(p, r, config.budget, n_runs=n_runs, seed=seed)
    from rewardlab.errors import unknown_name

    raise unknown_name("bandit environment", name, ENVS)


class BanditAlgorithm(Algorithm):
    """Plays a policy on a bandit env; subclasses say which envs they accept and build the policy."""

    config_class: ClassVar[type[RunConfig]] = BanditConfig
    curve_metric: ClassVar[str] = "cumulative_regret"
    supported_envs: ClassVar[tuple[str, ...]] = K_ARMED_ENVS
    has_regret: ClassVar[bool] = True
    state_fields = {"policy": OBJECT, "env": OBJECT, "_eval_rng": RNG, "cumulative_regret": VALUE,
                    "total_reward": VALUE}  # fmt: skip

    def __init__(self, config: BanditConfig):
        super().__init__(config)
        if config.env not in self.supported_envs:
            raise ConfigError(f"{type(self).__name__} cannot play env {config.env!r}; "
                              f"valid envs: {', '.join(self.supported_envs)}")
        env_rng, policy_rng, self._eval_rng = spawn_rngs(config.seed, 3)
        self.env = make_env(config, seed=int(env_rng.integers(2**63)))
        self.policy = self.make_policy(self.env, policy_rng)
        self.cumulative_regret = 0.0
        self.total_reward = 0.0

    def make_policy(self, env: Any, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def step(self) -> dict[str, float]:
        n = max(1, min(self.config.rounds_per_step, self.config.total_steps - self.global_step))
        rewards, regret = simulate(self.env, self.policy, n)
        self.global_step += n
        self.total_reward += float(rewards.sum())
        metrics = {"reward_mean": float(rewards.mean()), "rounds": float(self.global_step)}
        if self.has_regret:
            self.cumulative_regret += float(regret.sum())
            metrics["cumulative_regret"] = self.cumulative_regret
            metrics["regret_per_round"] = float(regret.mean())
        return metrics

    def predict(self, contexts: Any = None) -> np.ndarray:
        """The greedy arm(s) for this round's contexts (None for k-armed bandits), as evaluation plays
        them; ties are broken with the policy's generator, which is left where it was."""
        saved_rng = self.policy.rng.bit_generator.state
        try:
            return self.policy.greedy(contexts)
        finally:
            self.policy.rng.bit_generator.state = saved_rng

    def evaluate(self, episodes: int) -> dict[str, Any]:
        """Greedy (no exploration, no learning) play: ``episodes`` fresh streams of eval_rounds rounds."""
        returns, regrets = [], []
        # greedy() breaks ties with the policy's generator: evaluating must not shift training's stream
        saved_rng = self.policy.rng.bit_generator.state
        for _ in range(episodes):
            env = make_env(self.config, seed=int(self._eval_rng.integers(2**63)))
            total = regret = 0.0
            for _ in range(self.config.eval_rounds):
                contexts = env.observe()
                r, g = env.pull(self.policy.greedy(contexts))
                total += float(r[0])
                regret += float(g[0])
            returns.append(total)
            regrets.append(regret / self.config.eval_rounds)
        self.policy.rng.bit_generator.state = saved_rng
        out = {"mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)),
               "episodes": episodes, "rounds_per_episode": self.config.eval_rounds}
        if self.has_regret:
            out["regret_per_round"] = float(np.mean(regrets))
            out["cumulative_regret"] = self.cumulative_regret
        return out

    def parameters_finite(self) -> str | None:
        check = getattr(self.policy, "parameters_finite", None)
        return check() if callable(check) else None


# --- K-armed policies -------------------------------------------------------------------------

@dataclass
class EpsilonGreedyConfig(BanditConfig):
    epsilon: float = 0.1  # Sutton & Barto (2018), Fig. 2.2


class EpsilonGreedyAlgorithm(BanditAlgorithm):
    config_class = EpsilonGreedyConfig
    summary = "epsilon-greedy on sample averages (Sutton & Barto 2018, Sec. 2.2)"

    def make_policy(self, env, rng):
        from rewardlab.bandits.stochastic import EpsilonGreedy

        return EpsilonGreedy(env.n_arms, env.n_runs, rng, epsilon=self.config.epsilon)


@dataclass
class UCB1Config(BanditConfig):
    c: float = math.sqrt(2.0)  # Auer et al. (2002): mean + sqrt(2 ln t / n)


class UCB1Algorithm(BanditAlgorithm):
    config_class = UCB1Config
    summary = "UCB1 (Auer, Cesa-Bianchi & Fischer 2002)"

    def make_policy(self, env, rng):
        from rewardlab.bandits.stochastic import UCB1

        return UCB1(env.n_arms, env.n_runs, rng, c=self.config.c)


@dataclass
class KLUCBConfig(BanditConfig):
    c: float = 0.0  # Garivier & Cappe (2011) use c = 0 in their experiments (c = 3 in the theorem)


class KLUCBAlgorithm(BanditAlgorithm):
    config_class = KLUCBConfig
    summary = "KL-UCB for Bernoulli rewards (Garivier & Cappe 2011)"
    supported_envs = ("bernoulli-bandit",)

    def make_policy(self, env, rng):
        from rewardlab.bandits.stochastic import KLUCB

        return KLUCB(env.n_arms, env.n_runs, rng, c=self.config.c)


@dataclass
class ThompsonConfig(BanditConfig):
    prior_a: float = 1.0  # Beta(1, 1) prior (Bernoulli); the Gaussian variant uses Agrawal & Goyal (2013)
    prior_b: float = 1.0


class ThompsonAlgorithm(BanditAlgorithm):
    config_class = ThompsonConfig
    summary = "Thompson sampling: Beta-Bernoulli or Gaussian (Agrawal & Goyal 2013)"
    supported_envs = ("bernoulli-bandit", "gaussian-bandit")

    def make_policy(self, env, rng):
        from rewardlab.bandits.stochastic import BetaThompson, GaussianThompson

        if self.config.env == "bernoulli-bandit":
            return BetaThompson(env.n_arms, env.n_runs, rng, self.config.prior_a, self.config.prior_b)
        return GaussianThompson(env.n_arms, env.n_runs, rng, noise_std=env.noise_std)


@dataclass
class SoftmaxConfig(BanditConfig):
    tau: float = 0.1  # entropy-regularisation temperature (Policy Cliff 2025), for rewards in [0, 1]

    def validate(self) -> None:
        super().validate()
        if self.tau <= 0:
            raise ConfigError(f"tau (softmax temperature) must be > 0, got {self.tau}")


class SoftmaxAlgorithm(BanditAlgorithm):
    config_class = SoftmaxConfig
    summary = "softmax (entropy-regularised, Boltzmann) policy over sample averages: stable under reward ties"
    supported_envs = ("bernoulli-bandit", "gaussian-bandit")

    def make_policy(self, env, rng):
        from rewardlab.bandits.stability import Softmax

        return Softmax(env.n_arms, env.n_runs, rng, tau=self.config.tau)


# --- linear policies --------------------------------------------------------------------------

@dataclass
class LinUCBConfig(BanditConfig):
    env: str = "linear-bandit"
    alpha: float = 1.0  # exploration width (Li et al. 2010; MABWiser's default)
    ridge: float = 1.0  # lambda of A = lambda I + sum x x^T
    disjoint: bool | None = None  # None: follow the env (linear_model = "disjoint" -> one theta per arm)


class LinUCBAlgorithm(BanditAlgorithm):
    config_class = LinUCBConfig
    summary = "LinUCB (Li, Chu, Langford & Schapire 2010), shared or disjoint"
    supported_envs = LINEAR_ENVS

    def _disjoint(self) -> bool:
        if self.config.disjoint is not None:
            return self.config.disjoint
        return self.config.env == "linear-bandit" and self.config.linear_model == "disjoint"

    def make_policy(self, env, rng):
        from rewardlab.bandits.linear import LinUCB

        return LinUCB(env.n_arms, env.dim, env.n_runs, rng, alpha=self.config.alpha, ridge=self.config.ridge,
                      disjoint=self._disjoint())


@dataclass
class LinTSConfig(BanditConfig):
    env: str = "linear-bandit"
    v: float = 0.1  # posterior scale; Agrawal & Goyal's theory value is far larger, practice uses ~noise std
    ridge: float = 1.0
    disjoint: bool | None = None


class LinTSAlgorithm(LinUCBAlgorithm):
    config_class = LinTSConfig
    summary = "linear Thompson sampling (Agrawal & Goyal 2013)"

    def make_policy(self, env, rng):
        from rewardlab.bandits.linear import LinearThompson

        return LinearThompson(env.n_arms, env.dim, env.n_runs, rng, v=self.config.v, ridge=self.config.ridge,
                              disjoint=self._disjoint())


@dataclass
class DynLinUCBConfig(BanditConfig):
    env: str = "dynamical-linear-bandit"
    lam: float = 1.0  # ridge lambda: DynLinUCBAgent(..., 1, ...) in the DLB repo's scripts/main.py
    beta_scale: float = 1.0  # 1.0 = the paper's beta_t


class DynLinUCBAlgorithm(BanditAlgorithm):
    config_class = DynLinUCBConfig
    summary = "DynLin-UCB for dynamical linear bandits (Mussi, Metelli & Restelli 2022)"
    supported_envs = ("dynamical-linear-bandit",)

    def make_policy(self, env, rng):
        from rewardlab.bandits.dynamical import DynLinUCB

        return DynLinUCB(env.actions, env.constants(), self.config.total_steps, env.n_runs, rng,
                         lam=self.config.lam, beta_scale=self.config.beta_scale)


# --- restless bandits -------------------------------------------------------------------------

@dataclass
class RestlessConfig(BanditConfig):
    env: str = "restless-bandit"
    gamma: float = 0.99  # discount of each arm's two-action MDP (Whittle indices; SEQUOIA's GAMMA)


class RestlessAlgorithm(BanditAlgorithm):
    config_class = RestlessConfig
    curve_metric = "reward_mean"
    supported_envs = ("restless-bandit",)
    has_regret = False


class WhittleAlgorithm(RestlessAlgorithm):
    summary = "Whittle index policy, indices by subsidy bisection (Whittle 1988)"

    def make_policy(self, env, rng):
        from rewardlab.bandits.restless import WhittleIndex

        return WhittleIndex(env, rng, gamma=self.config.gamma)


class MyopicAlgorithm(RestlessAlgorithm):
    summary = "myopic restless-bandit baseline (largest one-step gain)"

    def make_policy(self, env, rng):
        from rewardlab.bandits.restless import Myopic

        return Myopic(env, rng)


@dataclass
class SequoiaConfig(RestlessConfig):
    total_steps: int = 2000
    rounds_per_step: int = 100
    # defaults from algos/dqn_estimator.py of lily-x/combinatorial-rmab
    hidden: list[int] = field(default_factory=lambda: [16, 32])
    lr: float = 2.5e-4
    eps_start: float = 0.9
    eps_end: float = 0.05
    eps_decay: float = 1000.0
    batch_size: int = 32
    target_update: int = 300
    lr_decay: float = 0.9  # ExponentialLR gamma, stepped once per episode
    lr_decay_every: int = 20  # episode length H = 20 (the repo's README)
    warm_start_updates: int = 3000  # myopic pre-training minibatches (the repo: 300 epochs of its data)
    min_active: int = 0  # extra constraint sum(a) >= min_active (combinatorial constraints demo)
    action_solver: str = "milp"  # "milp" (the paper) or "enumerate" (same argmax, fast for small N)


class SequoiaAlgorithm(RestlessAlgorithm):
    config_class = SequoiaConfig
    summary = "SEQUOIA: DQN with MILP action selection for combinatorial restless bandits (Xu et al. 2025)"

    def make_policy(self, env, rng):
        from rewardlab.bandits.sequoia import Sequoia

        c = self.config
        if c.action_solver not in ("milp", "enumerate"):
            raise ConfigError(f"action_solver must be 'milp' or 'enumerate', got {c.action_solver!r}")
        constraints = [(np.ones(env.n_arms), c.min_active, np.inf)] if c.min_active else []
        return Sequoia(env, rng, hidden=tuple(c.hidden), gamma=c.gamma, lr=c.lr, eps_start=c.eps_start,
                       eps_end=c.eps_end, eps_decay=c.eps_decay, batch_size=c.batch_size,
                       target_update=c.target_update, lr_decay=c.lr_decay, lr_decay_every=c.lr_decay_every,
                       warm_start_updates=c.warm_start_updates, constraints=constraints,
                       action_solver=c.action_solver)
