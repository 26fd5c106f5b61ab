"""Learning curves: one run, several runs overlaid, and seeds of one config as mean +- std band."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from rewardlab.core.io import read_metrics
from rewardlab.errors import RewardlabError

# config keys that do not make two runs different experiments
_SEED_LIKE = {"seed", "checkpoint_every", "eval_episodes", "num_threads", "device"}


def _saved_config(run_dir: Path) -> dict:
    """config.toml as written by the Run (every field resolved), read without building the algorithm."""
    from rewardlab.config import load_toml

    path = run_dir / "config.toml"
    if not path.is_file():
        raise RewardlabError(f"{str(run_dir)!r} is not a rewardlab run directory: {path} does not exist")
    return load_toml(path)


def _run_label(run_dir: Path) -> tuple[str, tuple]:
    """(label, grouping key): runs that differ only by seed share the key."""
    config = _saved_config(run_dir)
    algo = config.pop("algo", "?")
    items = tuple(sorted((k, repr(v)) for k, v in config.items() if k not in _SEED_LIKE))
    return f"{algo} {config.get('env', '')}", (algo, items)


def _curve(run_dir: Path, metric: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in read_metrics(run_dir) if isinstance(r.get(metric), int | float)]
    return np.array([r["step"] for r in rows], dtype=float), np.array([r[metric] for r in rows], dtype=float)


def plot_runs(
    run_dirs: list[str | Path], out: str | Path, metric: str | None = None, title: str | None = None
) -> Path:
    """Draw ``metric`` against steps for each run; seeds of the same config become mean +- std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise RewardlabError("plot needs at least one run directory")
    if metric is None:
        from rewardlab import registry

        metric = registry.get_algorithm(_saved_config(run_dirs[0]).get("algo", "")).curve_metric
    groups: dict[tuple, list[Path]] = defaultdict(list)
    labels: dict[tuple, str] = {}
    for d in run_dirs:
        label, key = _run_label(d)
        groups[key].append(d)
        labels[key] = label
    # Give labels that collide (same algo/env, other hyper-parameters) a distinguishing suffix.
    seen: dict[str, int] = defaultdict(int)

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    drawn = 0
    for key, dirs in groups.items():
        seen[labels[key]] += 1
        label = labels[key] if seen[labels[key]] == 1 else f"{labels[key]} ({seen[labels[key]]})"
        curves = [c for c in (_curve(d, metric) for d in dirs) if len(c[0])]
        if not curves:
            continue
        drawn += 1
        if len(curves) == 1:
            ax.plot(*curves[0], label=f"{label} ({dirs[0].name})" if len(groups) > 1 else label, lw=1.6)
            continue
        grid = np.linspace(max(c[0][0] for c in curves), min(c[0][-1] for c in curves), 200)
        ys = np.stack([np.interp(grid, x, y) for x, y in curves])
        mean, std = ys.mean(0), ys.std(0)
        (line,) = ax.plot(grid, mean, lw=1.8, label=f"{label} (mean of {len(curves)} seeds)")
        ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)
    if not drawn:
        plt.close(fig)
        raise RewardlabError(f"none of the runs logged the metric {metric!r}; choose one with --metric")
    ax.set_xlabel("steps")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(title or metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")  # atomic: render beside, then rename
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out
