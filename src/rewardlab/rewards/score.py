"""``rewardlab reward score``: score a JSONL file of samples with a reward before training with it.

Input: one JSON object per line with ``completion`` (required), ``prompt``, ``reference`` (also
read from ``answer``, ``solution`` or ``ground_truth``), ``info`` (an object) and
``completion_ids``; any other key is added to ``info`` (like TRL's extra dataset columns).

The reward is a registered name (``--set key=value`` sets its parameters) or a TOML file holding
a reward spec (see :mod:`rewardlab.rewards.registry`; ``--set parts.0.key=value`` reaches into
it). Output: a table of the first ``limit`` samples, a per-component summary, and
``scores.jsonl`` (one line per sample: index, total, components, note), written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rewardlab.config import load_toml, parse_set_args
from rewardlab.core.io import read_jsonl
from rewardlab.errors import ConfigError, RewardlabError, unknown_name
from rewardlab.rewards.base import Reward, RewardResult, Sample
from rewardlab.rewards.diagnostics import component_stats
from rewardlab.rewards.registry import REWARD_TABLE, build, get

REFERENCE_KEYS = ("reference", "answer", "solution", "ground_truth")
SAMPLE_KEYS = ("prompt", "completion", "info", "completion_ids", *REFERENCE_KEYS)


def _set_path(spec: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``spec["parts"][0]["key"]`` from ``"parts.0.key"``."""
    node: Any = spec
    keys = dotted.split(".")
    for i, key in enumerate(keys[:-1]):
        where = ".".join(keys[: i + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"--set {dotted}: {where!r} is not an index of a list of {len(node)}")
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            raise ConfigError(f"--set {dotted}: the reward config has no {where!r}")
    last = keys[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {dotted}: {last!r} is not an index of a list of {len(node)}")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {dotted}: cannot set a key inside {node!r}")


def _read_spec(path: Path) -> dict[str, Any]:
    # load_toml flattens only [run]/[algo] sections; the [reward] table stays nested.
    data = load_toml(path)
    spec = data.get("reward")
    if isinstance(spec, dict):
        return spec
    if "reward" in data or "combine" in data:
        return data
    raise ConfigError(
        f"reward config {str(path)!r} has no [reward] table (or top-level 'reward = NAME' / "
        "'combine = ...'); see examples/rewards/"
    )


def load_reward(reward: str, sets: list[str] | tuple[str, ...] = ()) -> Reward:
    """A Reward from a registered name, an import path or a TOML reward config, with ``--set`` overrides."""
    from rewardlab.registry import is_import_path

    overrides = parse_set_args(list(sets))
    if is_import_path(reward):  # the user's own reward: "package.module:f" or "path/to/file.py:f"
        return get(reward, **overrides)
    path = Path(reward)
    model_dir = path.is_dir() or (path.suffix != ".toml" and not path.exists() and os.sep in reward)
    if reward not in REWARD_TABLE and model_dir:  # a trained reward model (reward_model.load_reward_model)
        return get(reward, **overrides)
    if reward not in REWARD_TABLE and (path.suffix == ".toml" or os.sep in reward or path.exists()):
        if not path.is_file():
            raise RewardlabError(f"reward config file {reward!r} does not exist")
        spec = _read_spec(path)
        for key, value in overrides.items():
            _set_path(spec, key, value)
        return build(spec, where=f"{reward} [reward]")
    if reward not in REWARD_TABLE:
        raise unknown_name(
            "reward", reward, REWARD_TABLE, hint="Pass a registered reward name or a .toml reward config."
        )
    return get(reward, **overrides)


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages about an input line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(m, dict) and isinstance(m.get("content", ""), str) for m in value
    )


TEXT_OR_CHAT = 'a string or a list of chat messages ({"role": ..., "content": "..."})'
FIELD_TYPES: dict[str, tuple[Any, str]] = {
    "completion": (lambda v: isinstance(v, str) or _is_messages(v), TEXT_OR_CHAT),
    "prompt": (lambda v: isinstance(v, str) or _is_messages(v), TEXT_OR_CHAT),
    "info": (lambda v: v is None or isinstance(v, dict), "an object"),
    "completion_ids": (
        lambda v: (
            v is None
            or (isinstance(v, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in v))
        ),
        "an array of integer token ids",
    ),
}


def read_samples(input_path: str) -> list[Sample]:
    """Samples from a JSONL file; errors name the file, line number, field and expected type."""
    samples = []
    for lineno, row in read_jsonl(input_path, what="input file"):
        where = f"{input_path}:{lineno}"
        if "completion" not in row:
            raise RewardlabError(f"{where}: no 'completion' key (keys: {', '.join(row) or 'none'})")
        for key, (ok, expected) in FIELD_TYPES.items():
            if key in row and not ok(row[key]):
                raise RewardlabError(
                    f"{where}: {key!r} must be {expected}, got {_json_type(row[key])} ({_short(row[key], 40)})"
                )
        info = row.get("info") or {}
        info = {**{k: v for k, v in row.items() if k not in SAMPLE_KEYS}, **info}
        reference = next((row[k] for k in REFERENCE_KEYS if k in row), None)
        samples.append(
            Sample(
                prompt=row.get("prompt", ""),
                completion=row["completion"],
                reference=reference,
                info=info,
                completion_ids=row.get("completion_ids"),
            )
        )
    if not samples:
        raise RewardlabError(f"input file {input_path!r} has no samples")
    return samples


def write_scores(result: RewardResult, out: str | Path) -> Path:
    """scores.jsonl, written to a temporary file in the same folder and renamed (atomic)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in result.rows():
                line = {"index": row["index"], "reward": result.name, "total": row[result.name]}
                line.update(components=row["components"], note=row["note"])
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def _short(value: Any, n: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _fmt(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") if x == x else "nan"


def render(result: RewardResult, samples: list[Sample], limit: int, console: Any) -> None:
    """Per-sample table (first ``limit``) and per-component summary, sized to the console."""
    from rich.table import Table

    values = result.values()
    comps = list(result.components)
    shown = min(limit, len(samples))
    # One column per component when they fit the console, else all components in one cell.
    wide = 4 + 34 + 18 + sum(max(len(n), 6) + 3 for n in values) + 24 <= console.width
    table = Table(title=f"{result.name}: first {shown} of {len(samples)} samples")
    table.add_column("#", justify="right")
    table.add_column("completion", no_wrap=True, overflow="ellipsis", max_width=32 if wide else 20)
    if wide:
        table.add_column("reference", no_wrap=True, overflow="ellipsis", max_width=16)
    table.add_column(result.name, justify="right", no_wrap=True)
    if wide:
        for name in comps:
            table.add_column(name, justify="right", no_wrap=True)
    elif comps:
        table.add_column("components", no_wrap=True)
    table.add_column("note", overflow="fold", min_width=8)
    for i in range(shown):
        cells = [str(i), _short(samples[i].completion, 32 if wide else 20)]
        if wide:
            cells.append(_short(samples[i].reference, 16) if samples[i].reference is not None else "")
        cells.append(_fmt(float(result.total[i])))
        if wide:
            cells += [_fmt(float(values[n][i])) for n in comps]
        elif comps:
            cells.append("\n".join(f"{n} {_fmt(float(values[n][i]))}" for n in comps))
        cells.append(result.notes[i] if result.notes else "")
        table.add_row(*cells)
    console.print(table)

    summary = Table(title=f"per-component summary over {len(samples)} samples")
    summary.add_column("component", overflow="fold", max_width=28)
    for col in ("range", "mean", "std", "frac 0", "frac max"):
        summary.add_column(col, justify="right", no_wrap=True)
    for name, st in component_stats(result).items():
        lo, hi = result.bounds.get(name, (float("nan"), float("nan")))
        summary.add_row(
            name,
            f"[{_fmt(lo)}, {_fmt(hi)}]",
            *(_fmt(st[k]) for k in ("mean", "std", "frac_zero", "frac_at_max")),
        )
    console.print(summary)
    counted = {k: v for k, v in result.counts.items() if v}
    if counted:
        console.print("counts: " + ", ".join(f"{k} = {v}" for k, v in sorted(counted.items())))


def score_command(
    reward: str,
    input_path: str,
    sets: list[str] | tuple[str, ...] = (),
    limit: int = 10,
    out: str | None = None,
    console: Any = None,
) -> int:
    """``rewardlab reward score REWARD_OR_CONFIG --input F [--set k=v] [--limit N] [--out F]``.

    Returns 0; bad input raises :class:`~rewardlab.errors.RewardlabError` (the CLI prints it).
    """
    if console is None:
        from rich.console import Console

        console = Console()
    if limit < 0:
        raise ConfigError(f"--limit must be >= 0, got {limit}")
    reward_obj = load_reward(reward, sets)
    samples = read_samples(input_path)
    result = reward_obj.score(samples)
    render(result, samples, limit, console)
    path = write_scores(result, out or "scores.jsonl")
    console.print(f"wrote {len(samples)} scores to {path}")
    return 0
