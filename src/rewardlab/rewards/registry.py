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
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable
from typing import Any

from rewardlab.errors import ConfigError, did_you_mean, unknown_name

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
    "gail": (
        "rewardlab.rewards.learned.gail:GAIL",
        "transition reward: GAIL discriminator reward softplus(logit) from expert demonstrations (.npz)",
    ),
    "orpo": (
        "rewardlab.rewards.learned.orpo:ORPO",
        "transition reward: ORPO occupancy-measure penalty against a base policy (kl, chi2, sqrt_chi2, tv)",
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


def get(name: str, **params: Any) -> Any:
    """Build the registered reward ``name`` with ``params``; unknown names / parameters are errors
    that list the closest valid ones."""
    if name not in REWARD_TABLE:
        raise unknown_name("reward", name, REWARD_TABLE, hint="See `rewardlab list rewards`.")
    factory = _load(REWARD_TABLE[name][0])
    valid = _parameters(factory)
    try:
        hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:
        hints = {}
    kwargs = {}
    for key, value in params.items():
        if key not in valid:
            raise ConfigError(
                f"reward {name!r} has no parameter {key!r}.{did_you_mean(key, valid)} "
                f"Valid parameters: {', '.join(sorted(valid)) or '(none)'}."
            )
        kwargs[key] = _coerce(name, key, value, hints.get(key, inspect.Parameter.empty))
    return factory(**kwargs)


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
        raise ConfigError(f"{where}: a reward spec needs 'reward = NAME' or 'combine = {'|'.join(COMBINATORS)}'")
    kind = spec.pop("combine")
    if kind not in COMBINATORS:
        raise unknown_name("combinator", str(kind), COMBINATORS)
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
            f"Valid keys: combine, parts, {', '.join(sorted(allowed))}."
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
        return Gate(parts[0], parts[1], threshold=spec.get("threshold"), fail_value=spec.get("fail_value", 0.0), name=spec.get("name"))
    if kind == "clip":
        if "low" not in spec or "high" not in spec:
            raise ConfigError(f"{where}: combine = 'clip' needs 'low' and 'high'")
        return Clip(parts[0], spec["low"], spec["high"], name=spec.get("name"))
    if "factor" not in spec:
        raise ConfigError(f"{where}: combine = 'scale' needs 'factor'")
    return Scale(parts[0], spec["factor"], spec.get("offset", 0.0), name=spec.get("name"))
