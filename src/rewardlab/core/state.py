"""Declared state: an object lists its mutable attributes once, with their kinds, and inherits
``state_dict`` / ``load_state_dict`` from :class:`Stateful`.

Bit-for-bit resume needs *every* piece of state that a later step reads: networks, optimizers,
buffers, generators, schedules, counters, the environments' insides. Written by hand, key by key
and twice (save and load), a forgotten key breaks resume without an error. Here a class says::

    class DQN(Algorithm):
        state_fields = {"q_net": OBJECT, "optimizer": OBJECT, "buffer": OBJECT, "np_rng": RNG,
                        "envs": ENV, "obs": ARRAY, "n_updates": VALUE}
        rebuilt_fields = ("config", "params", "n_actions")   # made again by __init__ from the config

Declarations add up along the class hierarchy (a subclass lists only what it adds), and
:meth:`Stateful.undeclared_attributes` names every attribute that is in neither list, so a test can
refuse an attribute nobody classified (tests/test_resume_all.py does, for every registered algorithm).

The kinds:

``OBJECT``  anything with ``state_dict()`` / ``load_state_dict()`` (an ``nn.Module``, optimizer,
            LR scheduler, replay buffer, normaliser, another :class:`Stateful`); restored in place,
            because other objects hold references to it (an optimizer to its parameters). ``None``
            is allowed when a feature is off, and must then be ``None`` on both sides.
``TENSOR``  a torch tensor; an ``nn.Parameter`` is restored in place (an optimizer holds it).
``ARRAY``   a numpy array (copied both ways).
``RNG``     a ``numpy.random.Generator``, restored in place (other objects may share it).
``TORCH_RNG`` a ``torch.Generator`` (an object's own torch stream), restored in place.
``VALUE``   plain data: numbers, strings, lists, dicts, dataclasses, deques (deep-copied both ways).
``ENV``     a Gymnasium env or vector env, saved as a snapshot (:mod:`rewardlab.core.envstate`).
``PROCESS_RNGS`` no attribute: the process-wide generators of torch, numpy and Python
            (:func:`process_rng_state`), which sampling code reaches without a handle.
"""

from __future__ import annotations

import copy
import random
from typing import Any, ClassVar

import numpy as np
import torch

from rewardlab.errors import RewardlabError

OBJECT, TENSOR, ARRAY, RNG, TORCH_RNG, VALUE, ENV, PROCESS_RNGS = (
    "object", "tensor", "array", "rng", "torch_rng", "value", "env", "process_rngs",
)  # fmt: skip
KINDS = (OBJECT, TENSOR, ARRAY, RNG, TORCH_RNG, VALUE, ENV, PROCESS_RNGS)


# ---------------------------------------------------------------------------------------------
# Generators


def process_rng_state() -> dict[str, Any]:
    """The process-wide generators: torch's CPU generator, numpy's legacy global one, Python's, and
    torch's CUDA generators once a GPU run has used CUDA (absent on the CPU: CPU checkpoints are
    unchanged)."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_process_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    # a GPU checkpoint resumed on a CPU-only machine: no CUDA generator draws there, nothing to set
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return copy.deepcopy(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state


def spawn_rngs(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from one seed (env, policy, evaluation streams never overlap)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


# ---------------------------------------------------------------------------------------------
# Saving and restoring one field


def _save(obj: Any, name: str, kind: str) -> Any:
    if kind == PROCESS_RNGS:
        return process_rng_state()
    value = getattr(obj, name)
    if value is None:
        return None
    if kind == OBJECT:
        return value.state_dict()
    if kind == TENSOR:
        return value.detach().clone()
    if kind == ARRAY:
        return np.array(value, copy=True)
    if kind == RNG:
        return rng_state(value)
    if kind == TORCH_RNG:
        return value.get_state()
    if kind == VALUE:
        return copy.deepcopy(value)
    if kind == ENV:
        from rewardlab.core.envstate import env_snapshot

        return env_snapshot(value)
    raise AssertionError(kind)  # kinds are checked when the class is declared


def _load(obj: Any, name: str, kind: str, saved: Any) -> None:
    if kind == PROCESS_RNGS:
        set_process_rng_state(saved)
        return
    current = getattr(obj, name)
    if kind in (OBJECT, RNG, TORCH_RNG, ENV) and (current is None) != (saved is None):
        raise RewardlabError(
            f"{type(obj).__name__}.{name}: the checkpoint holds {'nothing' if saved is None else 'a state'} "
            f"but this {type(obj).__name__} has {'none' if current is None else 'one'}; was the run's config "
            f"changed (e.g. a normalisation switched on or off)?"
        )
    if saved is None and kind in (OBJECT, RNG, TORCH_RNG, ENV):
        return
    if kind == OBJECT:
        current.load_state_dict(saved)
    elif kind == TENSOR:
        if isinstance(current, torch.nn.Parameter):
            with torch.no_grad():
                current.copy_(saved)
        elif saved is None or not isinstance(current, torch.Tensor):
            setattr(obj, name, None if saved is None else saved.clone())
        else:  # onto the device of the tensor it replaces (checkpoints are read onto the CPU)
            setattr(obj, name, saved.to(current.device, copy=True))
    elif kind == ARRAY:
        setattr(obj, name, None if saved is None else np.array(saved, copy=True))
    elif kind == RNG:
        set_rng_state(current, copy.deepcopy(saved))
    elif kind == TORCH_RNG:
        current.set_state(saved)
    elif kind == VALUE:
        setattr(obj, name, copy.deepcopy(saved))
    elif kind == ENV:
        from rewardlab.core.envstate import restore_env

        restore_env(current, saved)


# ---------------------------------------------------------------------------------------------
# The mixin


class Stateful:
    """``state_dict`` / ``load_state_dict`` over the attributes declared in ``state_fields``.

    ``state_fields`` maps attribute name -> kind (see the module docstring); ``rebuilt_fields``
    names the attributes ``__init__`` makes again from the config (constants, spaces, scratch
    buffers fully rewritten before they are read). Both add up along the class hierarchy.
    """

    state_fields: ClassVar[dict[str, str]] = {}
    rebuilt_fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, kind in vars(cls).get("state_fields", {}).items():
            if kind not in KINDS:
                raise TypeError(
                    f"{cls.__name__}.state_fields[{name!r}]: unknown kind {kind!r}; valid: {KINDS}"
                )

    @classmethod
    def declared_state(cls) -> dict[str, str]:
        """Every declared field, base classes first (a subclass may re-declare a field's kind)."""
        fields: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            fields.update(vars(klass).get("state_fields", {}))
        return fields

    @classmethod
    def declared_rebuilt(cls) -> set[str]:
        return {name for klass in cls.__mro__ for name in vars(klass).get("rebuilt_fields", ())}

    def undeclared_attributes(self) -> list[str]:
        """Instance attributes that are neither state nor rebuilt: each one is a possible resume bug."""
        known = set(self.declared_state()) | self.declared_rebuilt()
        return sorted(name for name in vars(self) if name not in known)

    def state_dict(self) -> dict[str, Any]:
        return {name: _save(self, name, kind) for name, kind in self.declared_state().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        fields = self.declared_state()
        missing, unexpected = sorted(set(fields) - set(state)), sorted(set(state) - set(fields))
        if missing or unexpected:
            raise RewardlabError(
                f"this checkpoint does not match {type(self).__name__}'s declared state: "
                f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}; it was written by "
                f"another algorithm or another version of rewardlab"
            )
        # Environments first: an env that cannot be restored stops the resume before anything else moves.
        order = sorted(fields, key=lambda name: fields[name] != ENV)
        for name in order:
            _load(self, name, fields[name], state[name])
