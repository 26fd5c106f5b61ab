"""Parts shared by the offline algorithms: the config fields, the training loop over a fixed
dataset, d3rlpy's network shapes, and the TD pieces every critic uses.

One Run iteration (:meth:`OfflineAlgorithm.step`) is ``log_every`` gradient steps (d3rlpy's
``n_steps_per_epoch``, 1000 in its reproductions); ``total_steps`` counts gradient steps. Every
``eval_every`` gradient steps the deterministic policy plays ``eval_episodes`` episodes of the
dataset's environment, on seeds that draw nothing from the training RNGs, so a resumed run logs
exactly what the uninterrupted one did.

Continuous actions are learnt in [-1, 1] (the dataset's Box bounds mapped linearly, as d3rlpy's
``MinMaxActionScaler`` and SB3 do) and mapped back at the env boundary.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rewardlab.config import RunConfig
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import OBJECT, VALUE
from rewardlab.offline.dataset import DatasetError, OfflineDataset, TransitionSampler, resolve_dataset
from rewardlab.rl.common import evaluate_policy, first_non_finite, mlp


@dataclass
class OfflineConfig(RunConfig):
    # Minari dataset id (under $MINARI_DATASETS_PATH) or dataset directory; the run's config.toml
    # stores the resolved absolute directory, so a resume reads the same file.
    dataset: str = ""
    env: str = ""  # evaluation env; "" = the dataset's own (Minari's env_spec)
    total_steps: int = 50_000  # gradient steps
    log_every: int = 1000  # gradient steps per logged iteration (d3rlpy: n_steps_per_epoch)
    eval_every: int = 5000  # gradient steps between evaluations; 0 = only at the end
    eval_episodes: int = 10  # d3rlpy's EnvironmentEvaluator n_trials
    batch_size: int = 256
    gamma: float = 0.99
    hidden_sizes: tuple[int, ...] = (256, 256)  # d3rlpy VectorEncoderFactory: [256, 256], ReLU
    # Standardise observations with the dataset's mean/std (d3rlpy StandardObservationScaler; off
    # in d3rlpy's configs, on in its TD3+BC reproduction and in CORL).
    normalize_observations: bool = False

    def validate(self) -> None:  # ranges: declared (config.CONVENTIONAL_BOUNDS), checked by check_config
        resolve_paths(self)


def resolve_paths(config: OfflineConfig) -> None:
    """Store the dataset as an absolute directory and fill ``env`` from its metadata (so the CLI's
    'no environment given' check passes and the saved config names both)."""
    path = resolve_dataset(config.dataset)
    config.dataset = str(path)
    if not config.env:
        import json

        meta = json.loads((path / "data" / "metadata.json").read_text())
        spec = meta.get("env_spec")
        if not spec:
            raise DatasetError(
                f"dataset {str(path)!r} records no environment (env_spec); pass --env for evaluation"
            )
        config.env = json.loads(spec)["id"]


# ---------------------------------------------------------------------------------------------
# The TD pieces (pure functions)


def td_target(
    rewards: torch.Tensor, terminations: torch.Tensor, next_values: torch.Tensor, gamma: float
) -> torch.Tensor:
    """y = r + gamma (1 - terminated) V(s'). A truncated step is *not* terminal: s' is the episode's
    real final observation (kept by Minari), so it bootstraps."""
    return rewards + gamma * (1.0 - terminations) * next_values


def ensemble_mse(q_values: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """sum_i mean((Q_i - y)^2) over an ensemble (n_critics, B) against y (B): d3rlpy's
    ``compute_ensemble_q_function_error`` (each critic's MSE, added)."""
    return (q_values - target.unsqueeze(0)).pow(2).mean(dim=1).sum()


@torch.no_grad()
def polyak_(targets: list[torch.Tensor], sources: list[torch.Tensor], tau: float) -> None:
    """target <- (1 - tau) target + tau source, in one fused call."""
    torch._foreach_lerp_(targets, sources, tau)


# ---------------------------------------------------------------------------------------------
# Networks (d3rlpy's shapes: [256, 256] ReLU encoders, torch's default init)


class QEnsemble(nn.Module):
    """``n`` independent Q(s, a) MLPs on cat(s, a); ``forward`` returns (n, B)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], n: int):
        super().__init__()
        self.qs = nn.ModuleList(mlp(obs_dim + act_dim, hidden, 1, "relu") for _ in range(n))

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1)
        return torch.stack([q(x).squeeze(-1) for q in self.qs])


class DeterministicActor(nn.Module):
    """a = tanh(MLP(s)) in [-1, 1] (d3rlpy DeterministicPolicy)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim, "relu")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


def mlp_relu(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    return mlp(in_dim, hidden, out_dim, "relu")


# ---------------------------------------------------------------------------------------------
# The training loop over a fixed dataset


class OfflineAlgorithm(Algorithm):
    """A dataset, a sampler, and the loop; subclasses build networks and do one gradient step."""

    config_class: ClassVar[type[OfflineConfig]] = OfflineConfig
    #: "continuous" (Box actions), "discrete" (Discrete actions) or "any"
    action_kind: ClassVar[str] = "continuous"

    state_fields = {"sampler": OBJECT, "updates": VALUE, "last_eval": VALUE}
    # the dataset and the tensors made from it; networks and optimizers: see modules() / optimizers()
    rebuilt_fields = ("data", "obs_mean", "obs_std", "observations", "next_observations", "rewards",
                      "terminations", "actions", "act_dim", "action_low", "action_high", "obs_dim")  # fmt: skip

    def __init__(self, config: OfflineConfig):
        super().__init__(config)
        c = self.config = config
        resolve_paths(c)
        torch.manual_seed(c.seed)
        self.data = OfflineDataset.load(c.dataset)
        self._check_spaces()
        t = self.data.transitions()
        obs_dim = int(np.prod(self.data.observation_space.shape))
        obs = t.observations.reshape(len(t), obs_dim).astype(np.float32)
        next_obs = t.next_observations.reshape(len(t), obs_dim).astype(np.float32)
        if c.normalize_observations:
            self.obs_mean = obs.mean(0)
            self.obs_std = obs.std(0) + 1e-3  # d3rlpy StandardObservationScaler eps
        else:
            self.obs_mean, self.obs_std = np.zeros(obs_dim, np.float32), np.ones(obs_dim, np.float32)
        self.observations = torch.from_numpy(self._normalize(obs))
        self.next_observations = torch.from_numpy(self._normalize(next_obs))
        self.rewards = torch.as_tensor(t.rewards, dtype=torch.float32)
        self.terminations = torch.as_tensor(t.terminations, dtype=torch.float32)
        if self.discrete:
            self.actions = torch.as_tensor(
                t.actions.reshape(-1) - self.data.action_space.start, dtype=torch.long
            )
            self.act_dim = int(self.data.action_space.n)
        else:
            space = self.data.action_space
            self.act_dim = int(np.prod(space.shape))
            self.action_low = space.low.reshape(-1).astype(np.float32)
            self.action_high = space.high.reshape(-1).astype(np.float32)
            scaled = (
                2 * (t.actions.reshape(len(t), -1) - self.action_low) / (self.action_high - self.action_low)
                - 1
            )
            self.actions = torch.as_tensor(np.clip(scaled, -1, 1), dtype=torch.float32)
        self.obs_dim = obs_dim
        self.sampler = TransitionSampler(len(t), c.seed)
        self.updates = 0  # gradient steps done (== global_step; kept for the delayed-update modulo)
        self.last_eval: dict[str, float] = {}
        self.build()

    # -- what a subclass provides ----------------------------------------------------------------

    @abc.abstractmethod
    def build(self) -> None:
        """Create networks and optimizers (after the dataset tensors exist)."""

    @abc.abstractmethod
    def update(self, idx: Any) -> dict[str, torch.Tensor]:
        """One gradient step on one of :meth:`draw_batches`' minibatches; detached metrics."""

    @abc.abstractmethod
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic actions for normalised observations: in [-1, 1], or class indices."""

    @abc.abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every network and learnable parameter holder, by name (saved in checkpoints)."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimizer, by name (saved in checkpoints)."""

    # -- checks ------------------------------------------------------------------------------------

    @property
    def discrete(self) -> bool:
        return isinstance(self.data.action_space, gym.spaces.Discrete)

    def _check_spaces(self) -> None:
        name = type(self).__name__
        obs_space, act_space = self.data.observation_space, self.data.action_space
        if not isinstance(obs_space, gym.spaces.Box):
            raise DatasetError(
                f"{name} needs a Box observation space; dataset {self.data.name!r} has {obs_space}"
            )
        if self.action_kind == "continuous" and not isinstance(act_space, gym.spaces.Box):
            raise DatasetError(
                f"{name} needs continuous (Box) actions; dataset {self.data.name!r} has {act_space}. "
                f"For discrete actions use bc or discrete-cql."
            )
        if self.action_kind == "discrete" and not isinstance(act_space, gym.spaces.Discrete):
            raise DatasetError(f"{name} needs Discrete actions; dataset {self.data.name!r} has {act_space}")
        if not isinstance(act_space, gym.spaces.Box | gym.spaces.Discrete):
            raise DatasetError(
                f"{name}: action space {act_space} of {self.data.name!r} is not Box or Discrete"
            )
        if isinstance(act_space, gym.spaces.Box) and not (
            np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all()
        ):
            raise DatasetError(
                f"{name} maps actions to [-1, 1] with the action space's bounds; {act_space} of "
                f"{self.data.name!r} has infinite bounds"
            )

    # -- policy at the env boundary ----------------------------------------------------------------

    def _normalize(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self.obs_mean) / self.obs_std).astype(np.float32)

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic env actions for a batch of raw observations."""
        with torch.no_grad():
            x = torch.from_numpy(self._normalize(np.asarray(obs, np.float32).reshape(len(obs), -1)))
            a = self.act(x).numpy()
        if self.discrete:
            return a + self.data.action_space.start
        a = self.action_low + (a + 1) * 0.5 * (self.action_high - self.action_low)
        return a.reshape(len(obs), *self.data.action_space.shape)

    # -- the loop ----------------------------------------------------------------------------------

    def draw_batches(self, n: int) -> Any:
        """What :meth:`update` receives, ``n`` times: transition indices, all drawn at once."""
        return torch.from_numpy(self.sampler.indices(self.config.batch_size, n))

    def step(self) -> dict[str, float]:
        c = self.config
        n = min(c.log_every, c.total_steps - self.global_step)
        batches = self.draw_batches(n)
        # Metrics an update returns only some of the time (e.g. delayed actor steps) are averaged
        # over the updates that returned them.
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        for idx in batches:
            for key, value in self.update(idx).items():
                sums[key] = sums[key] + value if key in sums else value
                counts[key] = counts.get(key, 0) + 1
            self.updates += 1
        before = self.global_step
        self.global_step += n
        values = torch.stack(list(sums.values())).tolist() if sums else []
        metrics = {k: v / counts[k] for k, v in zip(sums, values)}
        done = self.global_step >= c.total_steps
        if done or (c.eval_every and self.global_step // c.eval_every > before // c.eval_every):
            result = self.evaluate(c.eval_episodes)
            self.last_eval = {"episode_return_mean": result["mean_return"]}
            if "normalized_score" in result:
                self.last_eval["normalized_score"] = result["normalized_score"]
        metrics.update(self.last_eval)
        return metrics

    def evaluate(self, episodes: int) -> dict[str, Any]:
        result = evaluate_policy(
            self.config.env,
            self.predict,
            episodes,
            seed=self.config.seed + 10_000,
            env_kwargs=self.data.env_kwargs,
        )
        if self.data.ref_min_score is not None and self.data.ref_max_score is not None:
            # x 100, as D4RL and the CORL / d3rlpy tables report it
            result["normalized_score"] = 100 * float(self.data.normalized_score(result["mean_return"]))
        return result

    # -- state (core.state): the declared fields, plus every network and optimizer that
    # modules() / optimizers() name, so a subclass declares its networks once, in those methods.

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["modules"] = {k: m.state_dict() for k, m in self.modules().items()}
        state["optimizers"] = {k: o.state_dict() for k, o in self.optimizers().items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        modules, optimizers = state.pop("modules"), state.pop("optimizers")
        super().load_state_dict(state)
        for k, m in self.modules().items():
            m.load_state_dict(modules[k])
        for k, o in self.optimizers().items():
            o.load_state_dict(optimizers[k])

    def undeclared_attributes(self) -> list[str]:
        held = {id(x) for x in (*self.modules().values(), *self.optimizers().values())}
        return [name for name in super().undeclared_attributes() if id(getattr(self, name)) not in held]

    def parameters_finite(self) -> str | None:
        return first_non_finite(self.modules())
