"""Offline datasets: episodes in memory, read from and written to the Minari format.

An :class:`OfflineDataset` keeps what Minari keeps (``docs/offline.md``): per episode T actions,
rewards, terminations and truncations, and **T + 1 observations**, the final one included. The
final observation is what makes a truncated episode (a time limit) bootstrap correctly: its last
transition's ``next_obs`` is the real next state, and only a *termination* stops the bootstrap.
D4RL's flat arrays dropped that observation; Minari's episode groups keep it.

Arrays are stored flat, episode after episode; ``episode_lengths`` says where each one ends. The
observation of step j of episode e lives at row ``j + e`` of ``observations`` (each earlier
episode adds one extra, final row).

Reading and writing go through ``minari`` (``pip install 'rewardlab[offline]'``):
``minari.create_dataset_from_buffers`` needs h5py only, not jax (``DataCollector`` does).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.errors import RewardlabError


class DatasetError(RewardlabError):
    """A dataset that is missing, not in Minari's format, empty, or unusable for the algorithm."""


def _minari():
    try:
        import minari
    except ImportError:
        raise DatasetError(
            "reading and writing offline datasets needs minari: pip install 'rewardlab[offline]' "
            "(minari[hdf5]==0.5.4)"
        ) from None
    return minari


@dataclass
class Transitions:
    """Flat (s, a, r, s', terminated, truncated) arrays, one row per environment step."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminations: np.ndarray  # the episode ended in a terminal state: no bootstrap from s'
    truncations: np.ndarray  # the episode was cut (time limit): s' is real, bootstrap from it

    def __len__(self) -> int:
        return len(self.rewards)


class TransitionSampler:
    """Uniform minibatch indices (with replacement, as d3rlpy's default transition picker) from its
    own numpy Generator, so resuming a run restores exactly the batches still to come."""

    def __init__(self, size: int, seed: int):
        if size < 1:
            raise DatasetError("cannot sample from an empty dataset (0 transitions)")
        self.size = size
        self.rng = np.random.default_rng(seed)

    def indices(self, batch_size: int, batches: int = 1) -> np.ndarray:
        """(batches, batch_size) indices; drawing an iteration's batches at once saves Python time."""
        return self.rng.integers(0, self.size, size=(batches, batch_size))

    def state_dict(self) -> dict[str, Any]:
        return {"size": self.size, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["size"] != self.size:
            raise DatasetError(
                f"the checkpoint was made on a dataset of {state['size']} transitions, this one has "
                f"{self.size}: the dataset changed since the run started"
            )
        self.rng.bit_generator.state = state["rng"]


@dataclass
class OfflineDataset:
    observations: np.ndarray  # (steps + episodes, *obs_shape)
    actions: np.ndarray  # (steps, *act_shape)
    rewards: np.ndarray  # (steps,) float64, as Minari stores them
    terminations: np.ndarray  # (steps,) bool
    truncations: np.ndarray  # (steps,) bool
    episode_lengths: np.ndarray  # (episodes,) int64
    observation_space: gym.Space
    action_space: gym.Space
    env_spec: str | None = None  # Gymnasium EnvSpec as JSON (Minari's metadata), for evaluation
    ref_min_score: float | None = None  # a random policy's mean return
    ref_max_score: float | None = None  # an expert's mean return
    name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_episodes(
        cls,
        episodes: list[dict[str, np.ndarray]],
        observation_space: gym.Space,
        action_space: gym.Space,
        **kwargs: Any,
    ) -> OfflineDataset:
        """From per-episode dicts with ``observations`` (T+1 rows), ``actions``, ``rewards``,
        ``terminations``, ``truncations`` (T rows each). Every episode must end: its last step is
        terminated or truncated, and no earlier step is."""
        name = kwargs.get("name") or "dataset"
        if not episodes:
            raise DatasetError(f"{name}: the dataset has no episodes (an empty split)")
        for i, ep in enumerate(episodes):
            _check_episode(name, i, ep)
        return cls(
            observations=np.concatenate([np.asarray(ep["observations"]) for ep in episodes]),
            actions=np.concatenate([np.asarray(ep["actions"]) for ep in episodes]),
            rewards=np.concatenate([np.asarray(ep["rewards"], dtype=np.float64) for ep in episodes]),
            terminations=np.concatenate([np.asarray(ep["terminations"], dtype=bool) for ep in episodes]),
            truncations=np.concatenate([np.asarray(ep["truncations"], dtype=bool) for ep in episodes]),
            episode_lengths=np.array([len(ep["rewards"]) for ep in episodes], dtype=np.int64),
            observation_space=observation_space,
            action_space=action_space,
            **kwargs,
        )

    # -- shape ---------------------------------------------------------------------------------

    @property
    def num_episodes(self) -> int:
        return len(self.episode_lengths)

    @property
    def num_steps(self) -> int:
        return len(self.rewards)

    @property
    def env_id(self) -> str | None:
        return json.loads(self.env_spec)["id"] if self.env_spec else None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        return dict(json.loads(self.env_spec).get("kwargs") or {}) if self.env_spec else {}

    def _step_offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.episode_lengths)])

    def _obs_rows(self) -> np.ndarray:
        """Row in ``observations`` of each step's observation (step j of episode e -> j + e)."""
        return np.arange(self.num_steps) + np.repeat(np.arange(self.num_episodes), self.episode_lengths)

    def episode(self, i: int) -> dict[str, np.ndarray]:
        offsets = self._step_offsets()
        a, b = offsets[i], offsets[i + 1]
        return {
            "observations": self.observations[a + i : b + i + 1],
            "actions": self.actions[a:b],
            "rewards": self.rewards[a:b],
            "terminations": self.terminations[a:b],
            "truncations": self.truncations[a:b],
        }

    def episode_returns(self) -> np.ndarray:
        return np.add.reduceat(self.rewards, self._step_offsets()[:-1]) if self.num_steps else np.zeros(0)

    # -- views for learning ----------------------------------------------------------------------

    def transitions(self) -> Transitions:
        """Every step as (s, a, r, s', terminated, truncated); s' of an episode's last step is its
        final observation, so a truncated step bootstraps from the true next state."""
        rows = self._obs_rows()
        return Transitions(
            observations=self.observations[rows],
            actions=self.actions,
            rewards=self.rewards,
            next_observations=self.observations[rows + 1],
            terminations=self.terminations,
            truncations=self.truncations,
        )

    def returns_to_go(self) -> np.ndarray:
        """Undiscounted return from each step to the end of its episode (the DT conditioning)."""
        rtg = np.empty_like(self.rewards)
        for a, b in zip(self._step_offsets()[:-1], self._step_offsets()[1:]):
            rtg[a:b] = np.cumsum(self.rewards[a:b][::-1])[::-1]
        return rtg

    def trajectory_windows(
        self, context: int, batch_size: int, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """``batch_size`` windows of ``context`` consecutive steps for sequence models (Decision
        Transformer). The last step of a window is a uniform draw over all steps (d3rlpy's
        trajectory slicer); windows that would start before their episode are left-padded, and
        ``mask`` is 1 on real steps. Returns observations (B, K, *obs), actions (B, K, *act),
        returns_to_go (B, K), timesteps (B, K) (the step's index in its episode) and mask (B, K)."""
        self.check_context(context)
        offsets = self._step_offsets()
        episode_of = np.repeat(np.arange(self.num_episodes), self.episode_lengths)
        ends = rng.integers(0, self.num_steps, size=batch_size)
        k = np.arange(context) - (context - 1)  # relative positions -K+1 .. 0
        steps = ends[:, None] + k[None, :]  # (B, K) global step indices, maybe before the episode
        starts = offsets[episode_of[ends]][:, None]
        mask = steps >= starts
        steps = np.where(mask, steps, starts)  # padded slots read the first step, then get zeroed
        rtg = self.returns_to_go()
        obs = self.observations[self._obs_rows()[steps]]
        out = {
            "observations": np.where(_expand(mask, obs), obs, 0),
            "actions": np.where(_expand(mask, self.actions[steps]), self.actions[steps], 0),
            "returns_to_go": np.where(mask, rtg[steps], 0.0),
            "timesteps": np.where(mask, steps - starts, 0),
            "mask": mask.astype(np.float32),
            "steps": steps,  # (B, K) step index of each slot (padded slots repeat the episode's first)
        }
        return out

    def check_context(self, context: int) -> None:
        """A sequence model's context must fit in at least one episode."""
        if context < 1:
            raise DatasetError(f"trajectory context must be >= 1, got {context}")
        if context > int(self.episode_lengths.max()):
            raise DatasetError(
                f"{self.name or 'dataset'}: context {context} is longer than every episode (the longest "
                f"has {int(self.episode_lengths.max())} steps); use a context <= that"
            )

    # -- scores ----------------------------------------------------------------------------------

    def normalized_score(self, returns: Any) -> np.ndarray | float:
        """(R - ref_min) / (ref_max - ref_min): 0 = the random policy, 1 = the reference policy
        (Minari's ``get_normalized_score``; D4RL reports this x 100)."""
        if self.ref_min_score is None or self.ref_max_score is None:
            raise DatasetError(
                f"{self.name or 'dataset'} has no reference scores (ref_min_score/ref_max_score in its "
                f"metadata); regenerate it with `rewardlab data generate --policy RUN_DIR`"
            )
        span = self.ref_max_score - self.ref_min_score
        if span == 0:
            raise DatasetError(f"{self.name}: ref_min_score equals ref_max_score ({self.ref_min_score})")
        out = (np.asarray(returns, dtype=np.float64) - self.ref_min_score) / span
        return float(out) if out.ndim == 0 else out

    # -- Minari I/O ------------------------------------------------------------------------------

    def to_minari(
        self,
        dataset_id: str,
        *,
        root: str | Path | None = None,
        algorithm_name: str | None = None,
        description: str | None = None,
    ) -> Path:
        """Write as Minari dataset ``dataset_id`` under ``root`` (default ``$MINARI_DATASETS_PATH``,
        else ``~/.minari/datasets``); returns the dataset directory. An existing dataset is never
        overwritten, and a failed write leaves nothing behind."""
        minari = _minari()
        from minari.data_collector.episode_buffer import EpisodeBuffer

        buffers = []
        for i in range(self.num_episodes):
            ep = self.episode(i)
            buffers.append(EpisodeBuffer(id=i, infos={}, **{k: np.asarray(v) for k, v in ep.items()}))
        env = gym.envs.registration.EnvSpec.from_json(self.env_spec) if self.env_spec else None
        with _datasets_root(root):
            from minari.storage.datasets_root_dir import get_dataset_path

            path = Path(get_dataset_path(dataset_id))
            if path.exists():
                raise DatasetError(
                    f"Minari dataset {dataset_id!r} already exists at {path}; choose another name"
                )
            try:
                with _quiet_minari_warnings():
                    minari.create_dataset_from_buffers(
                        dataset_id,
                        buffers,
                        env=env,
                        observation_space=self.observation_space,
                        action_space=self.action_space,
                        # Minari records the reference scores only when a max is given.
                        ref_min_score=self.ref_min_score if self.ref_max_score is not None else None,
                        ref_max_score=self.ref_max_score,
                        algorithm_name=algorithm_name or self.metadata.get("algorithm_name") or "rewardlab",
                        author="rewardlab",
                        author_email="-",
                        code_permalink="-",
                        description=description or self.metadata.get("description") or "written by rewardlab",
                    )
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
        return path

    @classmethod
    def load(cls, name_or_path: str | Path) -> OfflineDataset:
        """Read a Minari dataset by id (under ``$MINARI_DATASETS_PATH``) or by directory path."""
        path = resolve_dataset(name_or_path)
        minari = _minari()
        with _quiet_minari_warnings():
            try:
                ds = minari.MinariDataset(path / "data")
            except Exception as e:  # minari raises ValueError/KeyError/OSError on broken files
                raise DatasetError(f"{str(path)!r} could not be read as a Minari dataset: {e}") from None
        meta = dict(ds.storage.metadata)
        label = str(meta.get("dataset_id") or path)
        if ds.total_episodes == 0:
            raise DatasetError(f"{label}: the dataset has no episodes (an empty split)")
        episodes = []
        for ep in ds.storage.get_episodes(range(ds.total_episodes)):
            for key in ("observations", "actions"):
                if not isinstance(ep[key], np.ndarray):
                    space = ds.observation_space if key == "observations" else ds.action_space
                    raise DatasetError(
                        f"{label}: {key} of space {space} are not plain arrays; rewardlab's offline "
                        f"algorithms need Box or Discrete spaces"
                    )
            episodes.append(ep)
        spec = meta.get("env_spec")
        return cls.from_episodes(
            episodes,
            ds.observation_space,
            ds.action_space,
            env_spec=spec if isinstance(spec, str) else None,
            ref_min_score=meta.get("ref_min_score"),
            ref_max_score=meta.get("ref_max_score"),
            name=label,
            metadata=meta,
        )


def _expand(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    return mask.reshape(mask.shape + (1,) * (like.ndim - mask.ndim))


def _check_episode(name: str, i: int, ep: dict[str, Any]) -> None:
    t = len(ep["rewards"])
    if t == 0:
        raise DatasetError(f"{name}: episode {i} has no steps")
    for key in ("actions", "terminations", "truncations"):
        if len(ep[key]) != t:
            raise DatasetError(f"{name}: episode {i} has {len(ep[key])} {key} but {t} rewards")
    if len(ep["observations"]) != t + 1:
        raise DatasetError(
            f"{name}: episode {i} has {len(ep['observations'])} observations for {t} steps; Minari "
            f"episodes keep T + 1 (the final observation too)"
        )
    ends = np.asarray(ep["terminations"], dtype=bool) | np.asarray(ep["truncations"], dtype=bool)
    if not ends[-1]:
        raise DatasetError(
            f"{name}: episode {i} has no episode end (its last step is neither terminated nor "
            f"truncated), so its last transition cannot be told apart from a cut in the data"
        )
    if ends[:-1].any():
        raise DatasetError(
            f"{name}: episode {i} ends at step {int(np.flatnonzero(ends)[0])} before its last step"
        )


@contextlib.contextmanager
def _datasets_root(root: str | Path | None):
    """Point Minari at ``root`` for the block (its API reads only the MINARI_DATASETS_PATH variable).
    The path is made absolute: Minari 0.5 joins a relative root onto the dataset path twice when it
    writes (``--root runs/minari`` failed with FileNotFoundError on .../data/runs/minari/...)."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    root = root if root is not None else old
    if root is None:
        yield
        return
    os.environ["MINARI_DATASETS_PATH"] = str(Path(root).expanduser().resolve())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


@contextlib.contextmanager
def _quiet_minari_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"minari(\..*)?")
        yield


def datasets_root() -> Path:
    """Minari's dataset directory: ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env) if env else Path.home() / ".minari" / "datasets"


def resolve_dataset(name_or_path: str | Path) -> Path:
    """The absolute directory of a Minari dataset given by path or by id. A dataset directory
    holds ``data/metadata.json`` (and ``data/main_data.hdf5``); a path to its ``data/`` folder works too."""
    text = str(name_or_path)
    if not text:
        raise DatasetError(
            "no dataset given: set the config key 'dataset' to a Minari dataset id or directory"
        )
    candidates = [Path(text).expanduser()]
    if not Path(text).is_absolute():
        candidates.append(datasets_root() / text)
    for path in candidates:
        if not path.exists():
            continue
        if (path / "data" / "metadata.json").is_file():
            return path.resolve()
        if path.name == "data" and (path / "metadata.json").is_file():
            return path.parent.resolve()
        found = (
            sorted(p.name for p in path.iterdir())[:10]
            if path.is_dir()
            else [f"a file ({path.suffix or 'no suffix'})"]
        )
        raise DatasetError(
            f"{text!r} is not a Minari dataset: {path} has no data/metadata.json; found "
            f"{', '.join(found) or 'an empty directory'}"
        )
    looked = " and ".join(str(p) for p in candidates)
    raise DatasetError(
        f"dataset {text!r} does not exist (looked at {looked}); make one with `rewardlab data generate`, "
        f"or set MINARI_DATASETS_PATH"
    )
