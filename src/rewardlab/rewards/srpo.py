"""``srpo``: SRPO's self-referential reward, a group-level reward for GRPO on embodied tasks.

Paper: SRPO, "Self-Referential Policy Optimization for Vision-Language-Action Models" (2025);
code: sii-research/siiRL ``siirl/utils/reward_score/embodied.py::compute_embodied_reward``
(seeds_table row 20, verified; formula in docs/lm_optimisers_group.md). Within one group (the G
rollouts of one task):

* a success scores 1.0;
* a failure scores ``0.6 * sigmoid(10 * (0.5 - d~))``, where ``d`` is the Euclidean distance of the
  failure's trajectory embedding to the nearest cluster centre of the group's *successful*
  embeddings, and ``d~`` is ``d`` min-max normalised over the group's failures (0.5 when all
  failures are equally far: the range is below 1e-6);
* the centres: the success embeddings are standardised (per feature, zero mean and unit variance
  over the successes; a constant feature is left unscaled), clustered with DBSCAN (eps 0.5,
  min_samples 2), and each cluster's mean is taken back to the raw space; with no cluster (every
  success is noise) the centre is the successes' mean;
* a group with no success or no failure stays binary (1 / 0).

So the nearest failure scores 0.6 sigmoid(5) = 0.596, the farthest 0.6 sigmoid(-5) = 0.004, a lone
failure 0.6 sigmoid(0) = 0.3. The paper embeds trajectories with a pretrained world model
(V-JEPA); here the embedding is whatever the samples carry (``info["embedding"]``, or an ``embed``
function), e.g. a small state-trajectory encoder (rewardlab.llm.grpo_control).

One choice is ours: siiRL also gives 0 to samples whose embedding is all zeros (a missing video);
here every embedding counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import GroupReward, Sample, Scored

FAILURE_SCALE = 0.6  # the largest reward a failure can get
STEEPNESS = 10.0
OFFSET = 0.5
DBSCAN_EPS = 0.5
DBSCAN_MIN_SAMPLES = 2
FLAT_RANGE = 1e-6  # a distance range below this counts as "all failures equally far"


def dbscan(points: np.ndarray, eps: float = DBSCAN_EPS, min_samples: int = DBSCAN_MIN_SAMPLES) -> np.ndarray:
    """DBSCAN cluster labels (Ester et al. 1996): -1 for noise, clusters numbered 0, 1, ... in order
    of their first core point.

    A point is a core point when at least ``min_samples`` points (itself included) lie within
    ``eps`` (Euclidean); clusters are the core points connected through such neighbourhoods plus
    the border points they reach, a border point going to the first cluster that reaches it (the
    order scikit-learn's ``DBSCAN`` also uses, so the labels agree with it).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2:
        raise ConfigError(f"dbscan needs a 2-D array of points (n, features), got shape {points.shape}")
    dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    neighbours = [np.flatnonzero(row <= eps) for row in dist]
    core = np.array([len(n) >= min_samples for n in neighbours], dtype=bool)
    labels = np.full(len(points), -1, dtype=np.int64)
    cluster = 0
    for start in range(len(points)):
        if labels[start] != -1 or not core[start]:
            continue
        stack = [start]
        while stack:
            i = stack.pop()
            if labels[i] != -1:
                continue
            labels[i] = cluster
            if core[i]:
                stack.extend(j for j in neighbours[i] if labels[j] == -1)
        cluster += 1
    return labels


def success_centres(success_embeddings: np.ndarray) -> np.ndarray:
    """Cluster centres (raw space) of the successes' embeddings: DBSCAN on the standardised
    embeddings, the mean of each cluster; the overall mean when DBSCAN finds no cluster."""
    x = np.asarray(success_embeddings, dtype=np.float64)
    std = x.std(axis=0)
    std[std == 0.0] = 1.0  # a constant feature is left unscaled (as scikit-learn's StandardScaler)
    labels = dbscan((x - x.mean(axis=0)) / std)
    # standardising is affine, so a cluster's mean taken back to the raw space is its raw mean
    centres = [x[labels == c].mean(axis=0) for c in range(labels.max() + 1)]
    return np.array(centres) if centres else x.mean(axis=0, keepdims=True)


def srpo_rewards(success: Sequence[bool] | np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """SRPO rewards of one group: 1 for successes, the distance-shaped value for failures (module
    docstring); binary when the group has no success or no failure."""
    success = np.asarray(success, dtype=bool)
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or len(embeddings) != len(success):
        raise ConfigError(
            f"srpo: need one embedding vector per sample, got embeddings of shape {embeddings.shape} "
            f"for {len(success)} samples"
        )
    rewards = success.astype(np.float64)
    if success.all() or not success.any():
        return rewards
    centres = success_centres(embeddings[success])
    failures = embeddings[~success]
    d = np.sqrt(((failures[:, None, :] - centres[None, :, :]) ** 2).sum(-1)).min(axis=1)
    spread = d.max() - d.min()
    d_norm = np.full_like(d, 0.5) if spread < FLAT_RANGE else (d - d.min()) / spread
    rewards[~success] = FAILURE_SCALE / (1.0 + np.exp(-STEEPNESS * (OFFSET - d_norm)))
    return rewards


def _info_embedding(sample: Sample) -> Any:
    return sample.info["embedding"]


class SelfReferentialReward(GroupReward):
    """SRPO's reward over each group of samples (see the module docstring).

    ``success_key``: the ``info`` key holding whether the rollout succeeded; ``embed``: a function
    sample -> 1-D embedding of its trajectory (default: ``info["embedding"]``).
    """

    name = "srpo"
    description = "SRPO self-referential reward: successes 1, failures by distance to the group's successes"

    def __init__(
        self,
        *,
        success_key: str = "success",
        embed: Callable[[Sample], Any] | None = None,
        name: str | None = None,
        on_error: str = "raise",
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(name=name, on_error=on_error, timeout_s=timeout_s)
        self.success_key = success_key
        self.embed = embed or _info_embedding

    def compute_group(self, samples: list[Sample]) -> list[Scored]:
        missing = [i for i, s in enumerate(samples) if self.success_key not in s.info]
        if missing:
            raise KeyError(f"info[{self.success_key!r}] (whether the rollout succeeded) is missing")
        success = np.array([bool(s.info[self.success_key]) for s in samples])
        embeddings = np.stack([np.asarray(self.embed(s), dtype=np.float64).ravel() for s in samples])
        values = srpo_rewards(success, embeddings)
        return [Scored(float(v), parts={"success": float(ok)}) for v, ok in zip(values, success)]

    def part_bounds(self) -> dict[str, tuple[float, float]]:
        return {"success": (0.0, 1.0)}


__all__ = ["SelfReferentialReward", "dbscan", "srpo_rewards", "success_centres"]
