"""Configs: one dataclass per algorithm, TOML files, ``--set key=value`` overrides, validation.

Every algorithm's config subclasses :class:`RunConfig`, so one flat TOML table describes a whole run
(the fields the Run itself needs, then the algorithm's hyper-parameters). Unknown keys and values of
the wrong type are errors that name the key and list what would be valid.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from rewardlab.errors import ConfigError, did_you_mean


@dataclass
class RunConfig:
    """What every run has, whatever the algorithm."""

    env: str = ""  # Gymnasium id or rewardlab environment / task name
    seed: int = 0
    total_steps: int = 100_000  # in the algorithm's unit: env steps, bandit rounds, optimizer steps
    checkpoint_every: int = 0  # in the same unit; 0 = about ten checkpoints per run
    eval_episodes: int = 10  # deterministic-policy episodes on fresh seeded envs after training
    num_threads: int = 1  # torch threads; 1 is fastest for small MLPs (see DESIGN.md, Threads)
    device: str = "cpu"
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
            raise ConfigError(
                f"unknown config key {key!r} in {source}.{did_you_mean(key, types_)} "
                f"Valid keys for {type(config).__name__}: {valid}."
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
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config
