"""Shared parts of the bandit domain: the env and policy protocols, state (de)serialisation, helpers.

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


def encode_state(value: Any) -> Any:
    """Turn numpy arrays (nested in dicts/lists) into plain python data that any pickler accepts.

    ``torch.load(weights_only=True)`` refuses numpy arrays; lists of python floats are exact for
    float64 and ints, so a round trip is bit-identical.
    """
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: encode_state(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_state(v) for v in value]
    return value


def decode_state(value: Any) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.array(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
        return {k: decode_state(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_state(v) for v in value]
    return value


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state


def spawn_rngs(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from one seed (env, policy, evaluation streams never overlap)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def argmax_random_tie(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Argmax over the last axis, ties broken uniformly at random (Sutton & Barto, Sec. 2.2)."""
    top = values >= values.max(axis=-1, keepdims=True)
    return np.argmax(top * (1.0 + rng.random(values.shape)), axis=-1)


class StatefulArrays:
    """Mixin: ``state_dict`` / ``load_state_dict`` over the attributes named in ``_state_fields``.

    Attributes that are numpy Generators are saved as their bit-generator state.
    """

    _state_fields: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, Any]:
        out = {}
        for name in self._state_fields:
            value = getattr(self, name)
            if isinstance(value, np.random.Generator):
                value = {"__rng__": rng_state(value)}
            elif isinstance(value, np.ndarray):
                value = value.copy()
            out[name] = value
        return encode_state(out)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = decode_state(state)
        for name in self._state_fields:
            value = state[name]
            if isinstance(value, dict) and "__rng__" in value:
                set_rng_state(getattr(self, name), value["__rng__"])
            else:
                setattr(self, name, value)


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
