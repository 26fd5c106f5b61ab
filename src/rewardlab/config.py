"""Configs: one dataclass per algorithm, TOML files, ``--set key=value`` overrides, validation.

Every algorithm's config subclasses :class:`RunConfig`, so one flat TOML table describes a whole run
(the fields the Run itself needs, then the algorithm's hyper-parameters). Unknown keys, values of
the wrong type and values outside a field's range are errors that name the key and say what would be
valid. Ranges are data, not code: ``metadata=bounds(...)`` on a field, or the conventional range of a
hyper-parameter name (:data:`CONVENTIONAL_BOUNDS`), all checked by :func:`check_config`; a config's
``validate()`` keeps only rules that relate several fields.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from rewardlab.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Bounds:
    """The valid range of a numeric config field, declared once beside the field::

        clip_range: float = field(default=0.2, metadata=bounds(gt=0))

    and checked for every field in one place (:func:`check_config`). NaN and inf are never valid."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
        )

    def __str__(self) -> str:
        low = f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else None
        high = f"{self.le:g}]" if self.le is not None else f"{self.lt:g})" if self.lt is not None else None
        if low and high:
            return f"in {low}, {high}"
        if low:
            return f">= {self.ge:g}" if self.ge is not None else f"> {self.gt:g}"
        if high:
            return f"<= {self.le:g}" if self.le is not None else f"< {self.lt:g}"
        return "any finite number"


def bounds(**kwargs: float) -> dict[str, Any]:
    """Field metadata declaring a numeric range: ``bounds(gt=0)``, ``bounds(ge=0, le=1)``."""
    return {"bounds": Bounds(**kwargs)}


#: Ranges of hyper-parameters that mean the same in every algorithm that has them, by field name.
#: A field's own ``metadata=bounds(...)`` takes precedence; ``None`` values (unset options) pass.
CONVENTIONAL_BOUNDS: dict[str, Bounds] = {
    **dict.fromkeys(
        "learning_rate lr clip_range clip_range_vf target_kl max_grad_norm temperature adam_eps adam_epsilon "
        "reward_timeout_s ray_timeout_s".split(),
        Bounds(gt=0),
    ),
    **dict.fromkeys(
        "gamma gae_lambda epsilon epsilon_end exploration_fraction exploration_initial_eps exploration_final_eps".split(),
        Bounds(ge=0, le=1),
    ),
    **dict.fromkeys("adam_beta1 adam_beta2 lora_dropout".split(), Bounds(ge=0, lt=1)),
    **dict.fromkeys("tau top_p".split(), Bounds(gt=0, le=1)),
    # 0 is meaningful here: no entropy bonus, no warm-up, no samples, no LoRA (train all weights), ...
    **dict.fromkeys(
        "ent_coef vf_coef weight_decay learning_starts epsilon_decay_steps samples_every samples_per_log "
        "gradient_steps lora_r reward_workers ray_num_cpus worker_num_cpus eval_every".split(),
        Bounds(ge=0),
    ),
    **dict.fromkeys(
        "num_envs n_steps batch_size micro_batch_size n_epochs buffer_size train_freq target_update_interval "
        "num_generations max_completion_length max_prompt_length episodes_per_step max_episode_steps "
        "rounds_per_step eval_rounds arms num_workers log_every".split(),
        Bounds(ge=1),
    ),
}


def available_devices() -> list[str]:
    """``cpu``, plus ``cuda`` and ``cuda:N`` where torch sees a GPU."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    return devices


@dataclass
class RunConfig:
    """What every run has, whatever the algorithm. Ranges are declared with ``metadata=bounds(...)``."""

    env: str = ""  # Gymnasium id or rewardlab environment / task name
    seed: int = field(default=0, metadata=bounds(ge=0))  # numpy takes seed % 2**32
    # in the algorithm's unit: env steps, bandit rounds, optimizer steps
    total_steps: int = field(default=100_000, metadata=bounds(ge=1))
    # in the same unit; 0 = about ten checkpoints per run
    checkpoint_every: int = field(default=0, metadata=bounds(ge=0))
    # deterministic-policy episodes on fresh seeded envs after training
    eval_episodes: int = field(default=10, metadata=bounds(ge=1))
    # torch threads; 1 is fastest for small MLPs (see DESIGN.md, Threads)
    num_threads: int = field(default=1, metadata=bounds(ge=1))
    device: str = field(default="cpu", metadata={"choices": available_devices})
    # Flush subnormal floats to zero on CPU during the training loop (torch.set_flush_denormal):
    # 6-9 % faster small-MLP training measured here; values that small carry no signal.
    flush_denormal: bool = True
    # Ray (the optional ``ray`` extra), used by vectorization = "ray" and the reward pool. A TOML
    # ``[ray]`` table sets these too (``[ray] address = ""`` is ``ray_address``).
    ray_address: str = ""  # "" = start a local cluster for this run; "auto" or host:port = join one
    ray_num_cpus: int = 0  # logical CPUs of a local cluster; 0 = os.cpu_count() (may exceed cores)
    ray_timeout_s: float = 300.0  # every ray.get waits at most this long, then the run stops by name

    def checkpoint_interval(self) -> int:
        return self.checkpoint_every if self.checkpoint_every > 0 else max(1, self.total_steps // 10)


def check_config(config: Any) -> Any:
    """Every declared range and choice of ``config``, then its own ``validate()`` (cross-field rules).
    A value out of range is a ConfigError naming the key, the value and what is valid."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        b = _declared(type(config), f.name, "bounds") or CONVENTIONAL_BOUNDS.get(f.name)
        if b is not None and isinstance(value, int | float) and not isinstance(value, bool):
            if not b.contains(value):
                default = f" (default {f.default!r})" if f.default is not dataclasses.MISSING else ""
                raise ConfigError(
                    f"config key {f.name!r}: {value!r} is out of range; valid values are {b}{default}"
                )
        choices = _declared(type(config), f.name, "choices")
        if choices is not None:
            valid = list(choices() if callable(choices) else choices)
            if value not in valid:
                why = " (torch sees no CUDA GPU on this machine)" if str(value).startswith("cuda") else ""
                raise ConfigError(
                    f"config key {f.name!r}: {value!r} is not available{why}; valid: {', '.join(map(str, valid))}"
                )
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def _declared(cls: type, name: str, key: str) -> Any:
    """Metadata ``key`` of field ``name``, from the nearest class in the MRO that declares it (a
    subclass that only changes a default, ``total_steps: int = 200``, keeps RunConfig's range)."""
    for klass in cls.__mro__:
        f = getattr(klass, "__dataclass_fields__", {}).get(name)
        if f is not None and key in f.metadata:
            return f.metadata[key]
    return None


def resolve_paths(config: Any, base: str | Path | None = None) -> Any:
    """A copy of ``config`` whose relative file paths are absolute, so that ``--resume`` and ``eval``
    find the same files from any working directory. A string counts as a path when it names an
    existing file or directory relative to ``base`` (default: the working directory) and looks like
    one (has a ``/`` or a suffix such as ``.jsonl``); ``file.py:attr`` import paths are resolved in
    their file part. Strings inside dict and list fields (``task_params``) are resolved too."""
    base = Path(base) if base is not None else Path.cwd()

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            return _resolve_one(value, base)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(fix(v) for v in value)
        return value

    changes = {f.name: fix(getattr(config, f.name)) for f in dataclasses.fields(config)}
    return dataclasses.replace(config, **changes)


def _resolve_one(text: str, base: Path) -> str:
    head, sep, attr = text.partition(":")
    if sep and head.endswith(".py"):  # "my_rewards.py:score"
        return _resolve_one(head, base) + sep + attr
    if not text or text.startswith(("/", "~")) or "\n" in text:
        return text
    p = Path(text)
    if "/" not in text and not p.suffix[1:].isalnum():
        return text  # a bare name (an env id, a task, a model) is not a path
    candidate = base / p
    return str(candidate.resolve()) if candidate.exists() else text


def field_types(cls: type) -> dict[str, Any]:
    """Field name -> resolved type annotation of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check/convert one value against a field type; raise ConfigError naming key, value and type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def bad() -> ConfigError:
        return ConfigError(f"config key {key!r}: value {value!r} is not a valid {_type_name(tp)}")

    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(key, value, arg)
            except ConfigError:
                continue
        raise bad()
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise bad()
    if tp is int:
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(float(value)) if value.strip().lower().count("e") else int(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if tp is float:
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad() from None
        raise bad()
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad()
    if origin in (list, tuple):
        if isinstance(value, str):
            value = _parse_literal(value)
        if not isinstance(value, list | tuple):
            raise bad()
        item_tp = args[0] if args else Any
        items = [_coerce(key, v, item_tp) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = _parse_literal(value)
        if not isinstance(value, dict):
            raise bad()
        return dict(value)
    raise ConfigError(f"config key {key!r}: unsupported field type {_type_name(tp)}")


def _parse_literal(text: str) -> Any:
    """Parse a ``--set`` value as a TOML value (numbers, booleans, arrays, inline tables), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: Any, overrides: dict[str, Any], source: str) -> Any:
    """Return a copy of ``config`` with ``overrides`` applied; unknown keys list the valid ones."""
    types_ = field_types(type(config))
    changes = {}
    for key, value in overrides.items():
        if key not in types_:
            valid = ", ".join(sorted(types_))
            explain = getattr(type(config), "explain_unknown_key", None)  # e.g. which algorithm has it
            raise ConfigError(
                f"unknown config key {key!r} in {source}.{did_you_mean(key, types_)}"
                f"{explain(key) if explain else ''} Valid keys for {type(config).__name__}: {valid}."
            )
        changes[key] = _coerce(key, value, types_[key])
    return dataclasses.replace(config, **changes)


def parse_set_args(items: list[str]) -> dict[str, Any]:
    """``["lr=1e-3", "net=[64, 64]"]`` -> ``{"lr": "1e-3", ...}`` (strings; typed by apply_overrides)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        key, value = key.strip(), value.strip()
        if not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        parsed = _parse_literal(value)
        # Keep bare words (e.g. env ids) as strings; typed coercion happens against the field type.
        out[key] = value if isinstance(parsed, str) else parsed
    return out


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {e}") from None
    # Accept either a flat table or one [section] per concern; sections are flattened.
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in ("run", "algo", "algorithm"):
            flat.update(value)
        elif isinstance(value, dict) and key == "ray":
            flat.update({f"ray_{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def to_dict(config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def to_toml(config: Any, algo: str) -> str:
    """The fully resolved config as TOML (``algo`` first), ``None`` values written as comments."""
    data: dict[str, Any] = {"algo": algo}
    nones = []
    for key, value in to_dict(config).items():
        if value is None:
            nones.append(key)
        else:
            data[key] = list(value) if isinstance(value, tuple) else value
    header = f"# unset (None): {', '.join(nones)}\n" if nones else ""
    return header + tomli_w.dumps(data)


def build_config(
    cls: type,
    *,
    files: list[str | Path] = (),
    sets: list[str] = (),
    cli: dict[str, Any] | None = None,
) -> Any:
    """Defaults <- each TOML file <- explicit CLI flags (--env, --seed, ...) <- ``--set`` overrides."""
    config = cls()
    for path in files:
        data = load_toml(path)
        data.pop("algo", None)
        config = apply_overrides(config, data, f"config file {str(path)!r}")
    if cli:
        config = apply_overrides(config, {k: v for k, v in cli.items() if v is not None}, "the command line")
    if sets:
        config = apply_overrides(config, parse_set_args(list(sets)), "--set")
    return check_config(config)
