"""Reward diagnostics: per-component statistics of a scored batch, and a reward-hacking monitor.

``component_stats`` says, for each component, where the batch sits in the declared range (mean,
std, fraction at zero, fraction at the maximum): a component that is always 0 or always at its
maximum carries no learning signal for a group-relative trainer. ``correlation_matrix`` shows
which components move together (a format reward perfectly correlated with accuracy adds
nothing).

:class:`HackingMonitor` follows Laidlaw et al., 2024, "Correlated Proxies: A New Definition and
Improved Mitigation for Reward Hacking" (arXiv 2403.03185; code cassidylaidlaw/orpo): a proxy
reward is safe to optimise while it stays correlated with the true reward on the policy's own
samples. Fed the proxy and a held-out "true" reward on the same samples at each step, it keeps
the last ``window`` steps, and warns when

* the Pearson correlation of proxy and true over the pooled samples of the window falls below
  ``min_correlation``, or
* the proxy's per-step mean rises while the true reward's falls over the window (least-squares
  slopes beyond ``min_slope`` in opposite directions): the signature of reward hacking.

Warnings are returned as :class:`HackingWarning` records (``str()`` gives the log line) so the
Run can write them to its log and metrics.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import RewardResult


def _arrays(values: RewardResult | Mapping[str, Sequence[float]]) -> dict[str, np.ndarray]:
    if isinstance(values, RewardResult):
        return values.values()
    return {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}


def component_stats(
    values: RewardResult | Mapping[str, Sequence[float]],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    atol: float = 1e-9,
) -> dict[str, dict[str, float]]:
    """``{component: {mean, std, min, max, frac_zero, frac_at_max}}``.

    ``frac_at_max`` uses the declared maximum (``result.bounds`` for a RewardResult, or
    ``bounds``); without one, the batch maximum. An empty batch gives NaNs.
    """
    arrays = _arrays(values)
    if bounds is None and isinstance(values, RewardResult):
        bounds = values.bounds
    bounds = bounds or {}
    out = {}
    for name, v in arrays.items():
        if len(v) == 0:
            out[name] = dict.fromkeys(("mean", "std", "min", "max", "frac_zero", "frac_at_max"), math.nan)
            continue
        top = bounds.get(name, (None, None))[1]
        if top is None or not math.isfinite(top):
            top = float(v.max())
        out[name] = {
            "mean": float(v.mean()),
            "std": float(v.std()),
            "min": float(v.min()),
            "max": float(v.max()),
            "frac_zero": float(np.mean(np.abs(v) <= atol)),
            "frac_at_max": float(np.mean(np.abs(v - top) <= atol)),
        }
    return out


def correlation_matrix(values: RewardResult | Mapping[str, Sequence[float]]) -> tuple[list[str], np.ndarray]:
    """(names, Pearson correlation matrix); NaN where a component is constant over the batch."""
    arrays = _arrays(values)
    names = list(arrays)
    k = len(names)
    corr = np.full((k, k), np.nan)
    for i in range(k):
        for j in range(i, k):
            c = pearson(arrays[names[i]], arrays[names[j]])
            corr[i, j] = corr[j, i] = c
    return names, corr


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation; NaN when either side is constant or has fewer than 2 values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"pearson: {len(x)} and {len(y)} values")
    if len(x) < 2:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    sx, sy = math.sqrt(float(dx @ dx)), math.sqrt(float(dy @ dy))
    if sx == 0.0 or sy == 0.0:
        return math.nan
    return float(np.clip((dx @ dy) / (sx * sy), -1.0, 1.0))


def _slope(ys: Sequence[float]) -> float:
    xs = np.arange(len(ys), dtype=np.float64)
    xs -= xs.mean()
    return float(xs @ (np.asarray(ys) - np.mean(ys)) / (xs @ xs))


@dataclass
class HackingWarning:
    step: int
    kind: str  # "low_correlation" | "divergence"
    message: str
    correlation: float
    proxy_slope: float
    true_slope: float

    def __str__(self) -> str:
        return f"step {self.step}: reward hacking suspected ({self.kind}): {self.message}"


class HackingMonitor:
    """Sliding-window check that a proxy reward still tracks the true reward (see module docstring)."""

    def __init__(
        self,
        window: int = 10,
        min_correlation: float = 0.5,
        min_slope: float = 0.0,
        min_steps: int = 3,
        proxy_name: str = "proxy",
        true_name: str = "true",
    ) -> None:
        if window < 2 or not 2 <= min_steps <= window:
            raise ConfigError(f"HackingMonitor: need window >= 2 and 2 <= min_steps <= window, got {window}, {min_steps}")
        self.window, self.min_correlation = int(window), float(min_correlation)
        self.min_slope, self.min_steps = float(min_slope), int(min_steps)
        self.proxy_name, self.true_name = proxy_name, true_name
        self.history: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=self.window)
        self.warnings: list[HackingWarning] = []

    def update(self, step: int, proxy: Sequence[float], true: Sequence[float]) -> list[HackingWarning]:
        """Add one step's per-sample proxy and true rewards; return the warnings for this step."""
        proxy, true = np.asarray(proxy, dtype=np.float64), np.asarray(true, dtype=np.float64)
        if proxy.shape != true.shape or proxy.ndim != 1:
            raise ValueError(f"HackingMonitor.update: proxy {proxy.shape} and true {true.shape} must be equal 1-D")
        self.history.append((int(step), proxy, true))
        if len(self.history) < self.min_steps:
            return []
        pooled_p = np.concatenate([p for _, p, _ in self.history])
        pooled_t = np.concatenate([t for _, _, t in self.history])
        corr = pearson(pooled_p, pooled_t)
        proxy_slope = _slope([p.mean() for _, p, _ in self.history])
        true_slope = _slope([t.mean() for _, _, t in self.history])
        out = []
        span = f"over the last {len(self.history)} steps"
        if not math.isnan(corr) and corr < self.min_correlation:
            out.append(
                HackingWarning(
                    step, "low_correlation",
                    f"corr({self.proxy_name}, {self.true_name}) = {corr:.3f} {span}, below {self.min_correlation:g}",
                    corr, proxy_slope, true_slope,
                )
            )
        if proxy_slope > self.min_slope and true_slope < -self.min_slope:
            out.append(
                HackingWarning(
                    step, "divergence",
                    f"{self.proxy_name} rises ({proxy_slope:+.4f}/step) while {self.true_name} falls "
                    f"({true_slope:+.4f}/step) {span}",
                    corr, proxy_slope, true_slope,
                )
            )
        self.warnings.extend(out)
        return out

    def metrics(self) -> dict[str, float]:
        """Latest window's correlation and slopes, for the metrics log."""
        if len(self.history) < 2:
            return {}
        pooled_p = np.concatenate([p for _, p, _ in self.history])
        pooled_t = np.concatenate([t for _, _, t in self.history])
        return {
            "hacking/correlation": pearson(pooled_p, pooled_t),
            "hacking/proxy_slope": _slope([p.mean() for _, p, _ in self.history]),
            "hacking/true_slope": _slope([t.mean() for _, _, t in self.history]),
        }
