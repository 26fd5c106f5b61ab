"""Shared parts of the bandit domain: the env and policy protocols and helpers (their checkpoint
state is declared with :mod:`rewardlab.core.state`).

Every bandit object is *batched over independent replicas*: arrays carry a leading axis ``R`` (one
row per seed), so a test or benchmark can play ten seeds in the time of one (numpy does the rows
together). A Run plays one replica (``R = 1``).

The flow per round (DESIGN.md, "bandits")::

    contexts = env.observe()            # (R, K, d) arm features, or None for K-armed bandits
    arms = policy.select(contexts)      # (R,) ints  (restless bandits: (R, N) bool masks)
    rewards, regret = env.pull(arms)    # (R,) observed rewards, (R,) exact expected regret
    policy.update(arms, rewards, contexts)

``regret`` is the *pseudo-regret* computed from the env's known oracle (best expected reward of the
round minus the expected reward of the chosen arm), so regret curves carry no reward noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.errors import ConfigError


def argmax_random_tie(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Argmax over the last axis, ties broken uniformly at random (Sutton & Barto, Sec. 2.2)."""
    top = values >= values.max(axis=-1, keepdims=True)
    return np.argmax(top * (1.0 + rng.random(values.shape)), axis=-1)


def check_context_shape(contexts: np.ndarray, n_runs: int, n_arms: int, dim: int) -> None:
    """Raise a ConfigError naming the shape when a context batch does not match the model."""
    if contexts is None or np.shape(contexts) != (n_runs, n_arms, dim):
        raise ConfigError(
            f"context of shape {None if contexts is None else tuple(np.shape(contexts))} does not match "
            f"the model: expected (runs={n_runs}, arms={n_arms}, dim={dim})"
        )


def simulate(env: Any, policy: Any, rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """Play ``rounds`` rounds; return per-round ``(rewards, regret)`` arrays of shape (R, rounds).

    The loop every Run step, test and benchmark uses; kept tiny so its per-round overhead is a
    handful of numpy calls.
    """
    rewards = np.empty((env.n_runs, rounds))
    regret = np.empty((env.n_runs, rounds))
    for t in range(rounds):
        contexts = env.observe()
        arms = policy.select(contexts)
        r, g = env.pull(arms)
        policy.update(arms, r, contexts)
        rewards[:, t] = r
        regret[:, t] = g
    return rewards, regret
