"""Reward names -> classes / factories, ``get(name, **params)``, and reward specs from TOML.

The table holds import paths and one-line descriptions, so listing rewards imports nothing
heavy; a reward's module is imported when it is built.

A *reward spec* (a TOML table, or a dict) describes a reward or a combination, recursively:

* ``{reward = "gui_action", coord_weight = 2.0, name = "..."}``: a registered reward and its
  parameters;
* ``{combine = "weighted_sum", weights = [0.9, 0.1], parts = [spec, spec]}``, likewise
  ``"hierarchical"`` (``weights``, ``thresholds``, ``parts`` = the levels), ``"gate"``
  (``parts = [gate, reward]``, ``threshold``, ``fail_value``), ``"clip"`` (``low``, ``high``,
  one part) and ``"scale"`` (``factor``, ``offset``, one part); each may have a ``name``.

Any spec may set ``timeout_s``, a wall-clock limit in seconds per call of a reward's code
(:mod:`rewardlab.rewards.base`); on a combination it applies to every reward inside that has
no limit of its own.
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Callable
from typing import Any

from rewardlab.errors import ConfigError, PluginError, did_you_mean, unknown_name

#: name -> ("module:attr", one-line description)
REWARD_TABLE: dict[str, tuple[str, str]] = {
    "format_tags": (
        "rewardlab.rewards.format:FormatTags",
        "1 if the completion is <think>...</think><answer>...</answer> (tags configurable), else 0",
    ),
    "exact_match": (
        "rewardlab.rewards.exact_match:ExactMatch",
        "1 if the <answer> text equals the reference after normalisation, else 0",
    ),
    "math_equiv": (
        "rewardlab.rewards.math_equiv:MathEquiv",
        "1 if the final answer equals the reference numerically or symbolically (sympy, no eval)",
    ),
    "gui_action": (
        "rewardlab.rewards.gui_action:GuiAction",
        "UI-R1: action type + click inside bbox + think/answer format, in [0, 3]",
    ),
    "box_iou": ("rewardlab.rewards.boxes:BoxIoU", "IoU of the predicted and reference box, in [0, 1]"),
    "box_giou": ("rewardlab.rewards.boxes:BoxGIoU", "VLA-R1 bbox reward (GIoU + 1) / 2, in [0, 1]"),
    "trajectory": (
        "rewardlab.rewards.trajectory:Trajectory",
        "VLA-R1 trajectory reward from the orientation-sensitive discrete Frechet distance, in [0, 1]",
    ),
    "vla_r1": ("rewardlab.rewards.vla_r1:vla_r1", "VLA-R1: 0.9 x box/trajectory task score + 0.1 x format"),
    "srpo": (
        "rewardlab.rewards.srpo:SelfReferentialReward",
        "SRPO (group-level): successes 1, failures 0.6 sigmoid(10 (0.5 - d~)) by distance to the group's successes",
    ),
    "ordered_plan_match": (
        "rewardlab.rewards.plan:OrderedPlanMatch",
        "REVER: F1 of the order-preserving matching of predicted and reference plan steps",
    ),
    "protocol_components": (
        "rewardlab.rewards.protocol:ProtocolComponents",
        "Thoth SCORE: format/consistency gates, step scale, action order, object/parameter fidelity",
    ),
    "hierarchical_action": (
        "rewardlab.rewards.shop:hierarchical_action",
        "Shop-R1: format + action type, then attribute and value rewards only for a correct type",
    ),
    "code_tests": (
        "rewardlab.rewards.code_tests:CodeTests",
        "fraction of reference tests the code passes (subprocess: time/memory limits, no network)",
    ),
    "overlong_penalty": (
        "rewardlab.rewards.length:OverlongPenalty",
        "DAPO soft overlong punishment, in [-1, 0]",
    ),
    "length_penalty": (
        "rewardlab.rewards.length:LengthPenalty",
        "Kimi k1.5 group length penalty (shorter is better within a prompt's group), in [-0.5, 0.5]",
    ),
    "bradley_terry": (
        "rewardlab.rewards.learned.bradley_terry:BradleyTerry",
        "learned: Bradley-Terry reward model (TRL's loss), MLP on info['features'] or a causal LM + score head",
    ),
    "implicit_dpo": (
        "rewardlab.rewards.learned.implicit_dpo:implicit_dpo",
        "learned: a DPO run's implicit reward beta * (log pi - log pi_ref), for best-of-N selection",
    ),
    "gail": (
        "rewardlab.rewards.learned.gail:GAIL",
        "transition reward: GAIL discriminator reward softplus(logit) from expert demonstrations (.npz)",
    ),
    "airl": (
        "rewardlab.rewards.learned.airl:AIRL",
        "transition reward: AIRL shaped reward g(s,a) + gamma h(s') - h(s) from expert demonstrations (.npz)",
    ),
    "airl_recovered": (
        "rewardlab.rewards.learned.airl:AIRLRecovered",
        "transition reward: AIRL's recovered reward g(s,a), frozen (AIRL.save_recovered), for re-training",
    ),
    "orpo": (
        "rewardlab.rewards.learned.orpo:ORPO",
        "transition reward: ORPO occupancy-measure penalty against a base policy (kl, chi2, sqrt_chi2, tv)",
    ),
    "progress": (
        "rewardlab.rewards.learned.progress_critic:ProgressReward",
        "transition reward: a frozen VLAC-style progress critic's delta(o_t, o_t+1, goal), dense reach reward",
    ),
    "rnd": (
        "rewardlab.rewards.learned.rnd:rnd",
        "transition reward: Random Network Distillation novelty / its return std (PPO transition_rewards)",
    ),
}

#: the registry convention of rewardlab.registry: name -> "module:attr"
REWARDS: dict[str, str] = {name: path for name, (path, _) in REWARD_TABLE.items()}

COMBINATORS = ("weighted_sum", "gate", "clip", "scale", "hierarchical")


def available() -> dict[str, str]:
    """Registered reward names -> one-line descriptions (for ``rewardlab list rewards``)."""
    return {name: desc for name, (_, desc) in sorted(REWARD_TABLE.items())}


def _load(path: str) -> Callable[..., Any]:
    import importlib

    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def _parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    params = dict(inspect.signature(target).parameters)
    params.pop("self", None)
    return {k: p for k, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _coerce(owner: str, key: str, value: Any, annotation: Any) -> Any:
    """Check / convert a parameter value against the factory's annotation (via rewardlab.config)."""
    if annotation is inspect.Parameter.empty:
        return value
    from rewardlab.config import _coerce as coerce_config_value

    try:
        return coerce_config_value(f"{owner}.{key}", value, annotation)
    except ConfigError:
        raise
    except Exception:  # an annotation the config coercer does not know: pass the value through
        return value


def get(name: str, /, **params: Any) -> Any:
    """Build the registered reward ``name`` (or the user's reward at an import path, see
    :func:`from_object`) with ``params``; unknown names / parameters are errors that list the
    closest valid ones."""
    from rewardlab import registry

    if registry.is_import_path(name):
        return from_object(registry.load_path(name, f"reward {name!r}"), params, f"reward {name!r}")
    if name not in REWARD_TABLE and _looks_like_path(name):
        # a trained reward model: a `rewardlab train reward-model` run or a BradleyTerry.save directory
        from rewardlab.rewards.learned.reward_model import load_reward_model

        return _build(functools.partial(load_reward_model, name), f"reward model {name!r}", params)
    if name not in REWARD_TABLE:
        raise unknown_name(
            "reward",
            name,
            REWARD_TABLE,
            hint="See `rewardlab list rewards`, give your own as 'package.module:f' or 'path/to/file.py:f', "
            "or a trained reward model's directory.",
        )
    return _build(_load(REWARD_TABLE[name][0]), name, params)


def _looks_like_path(name: str) -> bool:
    """A reward given as a directory: it exists, or is written like a path (``runs/rm``, ``./rm``)."""
    import os
    from pathlib import Path

    return Path(name).expanduser().is_dir() or "/" in name or os.sep in name or name.startswith("~")


def reward_function_kind(func: Callable[..., Any]) -> str | None:
    """``"trl"`` for TRL's batch signature ``f(prompts, completions, **columns)`` (TRL passes them by
    keyword, and many functions take only ``completions, **kwargs``), ``"sample"`` for a function
    of one :class:`Sample`, ``"factory"`` for one without required arguments (it returns a Reward),
    None for anything else."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    if "completions" in params:
        return "trl"
    required = [
        p for p in params.values() if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if not required:
        return "factory"
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(required) == 1 and required[0].kind in positional:
        return "sample"
    return None


def from_object(obj: Any, params: dict[str, Any] | None = None, what: str = "reward") -> Any:
    """A Reward from what the user gave: a :class:`Reward` (instance or class, built with
    ``params``), a TRL reward function ``f(prompts, completions, **columns) -> list[float | None]``
    (wrapped by :func:`~rewardlab.rewards.base.from_trl`), a function of one ``Sample``
    (:class:`~rewardlab.rewards.base.FunctionReward`) or a factory returning a Reward; ``params``
    go to the class, the wrapper or the factory."""
    from rewardlab.registry import describe
    from rewardlab.rewards.base import FunctionReward, Reward, from_trl

    params = dict(params or {})
    if isinstance(obj, Reward):
        if params:
            raise PluginError(f"{what} is a Reward instance; it takes no parameters (got {sorted(params)})")
        return obj
    if inspect.isclass(obj):
        if issubclass(obj, Reward):
            return _build(obj, what, params)
        raise PluginError(
            f"{what} is {describe(obj)}, not a rewardlab Reward, a Reward class or a reward function"
        )
    if not callable(obj):
        raise PluginError(
            f"{what} is {describe(obj)}; expected a rewardlab Reward, a Reward class, a function of one Sample "
            f"f(sample) -> float, or a TRL reward function f(prompts, completions, **columns) -> list[float | None]"
        )
    kind = reward_function_kind(obj)
    if kind == "trl":
        return _build(from_trl, what, params, bind=obj)
    if kind == "sample":
        return _build(FunctionReward, what, params, bind=obj)
    if kind == "factory":
        made = _build(obj, what, params)
        if not isinstance(made, Reward):
            raise PluginError(
                f"{what}: {describe(obj)} takes no sample and returned {describe(made)}, not a Reward"
            )
        return made
    try:
        signature = str(inspect.signature(obj))
    except (TypeError, ValueError):
        signature = "(unknown)"
    raise PluginError(
        f"{what}: {describe(obj)} has the signature {signature}; a reward function takes one Sample, "
        f"f(sample) -> float, or TRL's batch signature f(prompts, completions, **columns) -> list[float | None]"
    )


def _build(factory: Callable[..., Any], name: str, params: dict[str, Any], bind: Any = None) -> Any:
    """``factory(**params)`` (``factory(bind, **params)`` for a wrapper) with each parameter checked
    against the factory's signature and annotations."""
    valid = _parameters(factory)
    if "timeout_s" in params and "timeout_s" not in valid:
        # Every reward takes a wall-clock limit (Reward.timeout_s), whatever its constructor says.
        from rewardlab.rewards.base import set_timeout

        timeout_s = params.pop("timeout_s")
        return set_timeout(get(name, **params), timeout_s, overwrite=True)
    try:
        hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:
        hints = {}
    if bind is not None:
        valid = dict(list(valid.items())[1:])  # the wrapped function fills the first parameter
    kwargs = {}
    for key, value in params.items():
        if key not in valid:
            owner = name if name.startswith("reward") else f"reward {name!r}"
            raise ConfigError(
                f"{owner} has no parameter {key!r}.{did_you_mean(key, valid)} "
                f"Valid parameters: {', '.join(sorted(valid)) or '(none)'}."
            )
        kwargs[key] = _coerce(name, key, value, hints.get(key, inspect.Parameter.empty))
    return factory(**kwargs) if bind is None else factory(bind, **kwargs)


def build(spec: dict[str, Any], where: str = "reward") -> Any:
    """A Reward from a spec dict (see the module docstring); ``where`` names it in errors."""
    from rewardlab.rewards.combinators import Clip, Gate, Hierarchical, Scale, WeightedSum

    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a table with 'reward' or 'combine', got {spec!r}")
    spec = dict(spec)
    if "reward" in spec and "combine" in spec:
        raise ConfigError(f"{where}: give either 'reward' or 'combine', not both")
    if "reward" in spec:
        name = spec.pop("reward")
        return get(str(name), **spec)
    if "combine" not in spec:
        raise ConfigError(
            f"{where}: a reward spec needs 'reward = NAME' or 'combine = {'|'.join(COMBINATORS)}'"
        )
    kind = spec.pop("combine")
    if kind not in COMBINATORS:
        raise unknown_name("combinator", str(kind), COMBINATORS)
    if "timeout_s" in spec:  # a limit for every reward inside (those without their own)
        from rewardlab.rewards.base import set_timeout

        timeout_s = spec.pop("timeout_s")
        return set_timeout(build({"combine": kind, **spec}, where), timeout_s)
    parts_spec = spec.pop("parts", None)
    if not isinstance(parts_spec, list) or not parts_spec:
        raise ConfigError(f"{where}: combine = {kind!r} needs a non-empty 'parts' list")
    parts = [build(p, f"{where}.parts[{i}]") for i, p in enumerate(parts_spec)]
    allowed = {
        "weighted_sum": {"name", "weights"},
        "hierarchical": {"name", "weights", "thresholds"},
        "gate": {"name", "threshold", "fail_value"},
        "clip": {"name", "low", "high"},
        "scale": {"name", "factor", "offset"},
    }[kind]
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ConfigError(
            f"{where}: combine = {kind!r} has no key {extra[0]!r}.{did_you_mean(extra[0], allowed)} "
            f"Valid keys: combine, parts, timeout_s, {', '.join(sorted(allowed))}."
        )
    want = {"gate": 2, "clip": 1, "scale": 1}.get(kind)
    if want is not None and len(parts) != want:
        raise ConfigError(f"{where}: combine = {kind!r} takes {want} part(s), got {len(parts)}")
    if kind == "weighted_sum":
        return WeightedSum(parts, spec.get("weights"), name=spec.get("name"))
    if kind == "hierarchical":
        thresholds = spec.get("thresholds")
        if thresholds is not None:
            thresholds = [None if (isinstance(t, float) and math.isnan(t)) else t for t in thresholds]
        return Hierarchical(parts, spec.get("weights"), thresholds, name=spec.get("name"))
    if kind == "gate":
        return Gate(
            parts[0],
            parts[1],
            threshold=spec.get("threshold"),
            fail_value=spec.get("fail_value", 0.0),
            name=spec.get("name"),
        )
    if kind == "clip":
        if "low" not in spec or "high" not in spec:
            raise ConfigError(f"{where}: combine = 'clip' needs 'low' and 'high'")
        return Clip(parts[0], spec["low"], spec["high"], name=spec.get("name"))
    if "factor" not in spec:
        raise ConfigError(f"{where}: combine = 'scale' needs 'factor'")
    return Scale(parts[0], spec["factor"], spec.get("offset", 0.0), name=spec.get("name"))
