"""The live progress bar of a training run (rich), silent when disabled or not on a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class TrainingProgress:
    """``with TrainingProgress(total, start) as bar: bar.update(step, record, curve_metric)``."""

    def __init__(self, total: int, start: int = 0, *, enabled: bool = True, console: Console | None = None):
        self.enabled = enabled
        self.total = total
        self.progress = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console or Console(stderr=True),
            disable=not enabled,
            refresh_per_second=4,
        )
        self.task = self.progress.add_task("train", total=total, completed=start, info="")

    def __enter__(self) -> TrainingProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def warn(self, message: str) -> None:
        """Print a warning above the live bar (always, even when the bar is disabled)."""
        self.progress.console.print(Text.assemble(("warning: ", "yellow"), message))

    def update(self, step: int, record: dict[str, Any], curve_metric: str) -> None:
        shown = [curve_metric, "sps"]
        info = "  ".join(f"{k.replace('episode_return_mean', 'return')}={_fmt(record[k])}" for k in shown if k in record)
        self.progress.update(self.task, completed=min(step, self.total), info=info)
