"""``rewardlab``: train / eval / plot / list / reward.

    rewardlab train ppo --env CartPole-v1 --total-steps 100000 --seed 0 --out runs/x
    rewardlab train ppo --resume runs/x
    rewardlab eval runs/x --episodes 20
    rewardlab eval smollm2-135m-instruct --task arithmetic --split test --limit 200
    rewardlab eval runs/grpo --best-of 8 --reward runs/rm    (runs/rm: `rewardlab train reward-model`)
    rewardlab plot runs/a runs/b --out fig.png
    rewardlab list [algorithms|envs|rewards|tasks]
    rewardlab reward score REWARD_OR_CONFIG --input samples.jsonl
    rewardlab data generate --env Pendulum-v1 --policy runs/x --split policy --steps 100000 --out NAME
    rewardlab data info NAME

Errors in the user's input print one clear message (no traceback) and exit non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rewardlab import registry
from rewardlab.errors import RewardlabError


def _console() -> Console:
    return Console(highlight=False)


# ---------------------------------------------------------------------------------------------
# train


def _cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in {"total_steps": args.total_steps, "seed": args.seed}.items() if v is not None}


def cmd_train(args: argparse.Namespace) -> int:
    from rewardlab import api
    from rewardlab.config import parse_set_args

    console = _console()
    overrides = {**_cli_overrides(args), **parse_set_args(args.set)}
    run = api.start_run(
        args.algo,
        env=args.env,
        config=args.config,
        out=args.out,
        resume=args.resume,
        console=console,
        **overrides,
    )
    config = run.config
    if args.resume:
        console.print(f"Resuming [bold]{run.algo_name}[/] in {run.run_dir} from step {run.algo.global_step}")
    else:
        console.print(
            f"Training [bold]{run.algo_name}[/] on [bold]{config.env}[/] for {config.total_steps:,} steps "
            f"(seed {config.seed}, {config.num_threads} torch thread(s)) -> {run.run_dir}"
        )
    result = run.train(progress=not args.no_progress)
    _print_eval(console, result)
    console.print(f"Run directory: {run.run_dir}")
    return 0


def _cell(value: Any) -> str | None:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        # short lists of numbers (e.g. the states a greedy policy loops through) fit one row
        if len(value) <= 32 and all(isinstance(v, int | float) for v in value):
            return ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
        return None
    if isinstance(value, dict):
        return None
    return str(value)


def _print_eval(console: Console, result: dict[str, Any]) -> None:
    """One result as key / value rows (a wide one-row table truncates every header on a narrow console)."""
    table = Table(title="evaluation", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in result.items():
        cell = _cell(value)
        if cell is not None and key != "warning":
            table.add_row(key, cell)
    console.print(table)
    if result.get("warning"):
        console.print(f"[yellow]warning:[/] {result['warning']}")


# ---------------------------------------------------------------------------------------------
# eval / plot / list


def cmd_eval(args: argparse.Namespace) -> int:
    from rewardlab import api
    from rewardlab.config import parse_set_args

    result = api.evaluate(
        args.run,
        args.episodes,
        task=args.task,
        split=args.split,
        limit=args.limit,
        task_params=parse_set_args(args.set) or None,
        best_of=args.best_of,
        reward=args.reward,
    )
    _print_eval(_console(), result)
    if args.json:
        print(json.dumps(result))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from rewardlab.core.plot import plot_runs

    for run in args.runs:
        if not (Path(run) / "metrics.jsonl").is_file():
            raise RewardlabError(f"{run!r} is not a run directory with metrics.jsonl")
    out = plot_runs(args.runs, args.out, metric=args.metric, title=args.title)
    _console().print(f"Wrote {out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from rewardlab.core import sweep

    runs = sweep.plan(
        args.config, seeds=sweep.parse_seeds(args.seeds), grid=args.set, algo=args.algo, out=args.out
    )
    root = Path(runs[0].out).parent.parent
    console = _console()
    console.print(f"Sweep: {len(runs)} runs ({args.backend}) -> {root}")

    def report(result: dict[str, Any]) -> None:
        status = f"eval {result['eval']['mean_return']:.4g}" if "eval" in result else "FAILED"
        console.print(f"  {Path(result['out']).relative_to(root)}: {status} ({result['seconds']:.0f} s)")

    results = sweep.run_sweep(
        runs,
        backend=args.backend,
        ray_address=args.ray_address,
        ray_num_cpus=args.ray_num_cpus,
        on_result=report,
    )
    sweep.summarize(results, root)
    failed = [r["out"] for r in results if r["returncode"] != 0]
    console.print(f"Wrote {root / 'sweep.json'} and {root / 'sweep.png'}")
    if failed:
        raise RewardlabError(
            f"{len(failed)} of {len(results)} sweep runs failed (see sweep.json): {', '.join(failed)}"
        )
    return 0


def _summary(path: str) -> str:
    try:
        return getattr(registry.load(path), "summary", "") or ""
    except ImportError as e:  # an optional extra is not installed
        return f"(unavailable: {e.name or e} is not installed)"


def cmd_list(args: argparse.Namespace) -> int:
    console = _console()
    what = args.what
    if what in ("all", "algorithms"):
        table = Table(title="algorithms (rewardlab train NAME)")
        table.add_column("name", style="bold")
        table.add_column("description")
        for name, path in sorted(registry._collect("ALGORITHMS").items()):
            table.add_row(name, _summary(path))
        console.print(table)
    if what in ("all", "envs"):
        table = Table(title="environments (--env NAME)")
        table.add_column("name", style="bold")
        table.add_column("description")
        for name, path in sorted(registry.rewardlab_envs().items()):
            table.add_row(name, _summary(path))
        ids = registry.gymnasium_env_ids()
        if what == "envs":
            for env_id in ids:
                table.add_row(env_id, "Gymnasium")
        else:
            examples = [
                i for i in ("CartPole-v1", "Pendulum-v1", "Acrobot-v1", "CliffWalking-v1") if i in ids
            ]
            table.add_row(
                f"+ {len(ids)} Gymnasium ids", "e.g. " + ", ".join(examples) + " (rewardlab list envs)"
            )
        console.print(table)
    if what in ("all", "rewards"):
        rewards = _optional_table("rewardlab.rewards", "available")
        if rewards is not None:
            table = Table(title="rewards (rewardlab reward score NAME)")
            table.add_column("name", style="bold")
            table.add_column("description")
            for name, desc in sorted(rewards.items()):
                table.add_row(name, desc)
            console.print(table)
    if what in ("all", "tasks"):
        tasks = _optional_table("rewardlab.tasks", "TASKS")
        if tasks:
            table = Table(title="text tasks for LM agents (--env NAME)")
            table.add_column("name", style="bold")
            table.add_column("import path")
            for name, path in sorted(tasks.items()):
                table.add_row(name, str(path))
            console.print(table)
    return 0


def _optional_table(module: str, attr: str) -> dict[str, str] | None:
    try:
        value = getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return None
    if value is None:
        return None
    return dict(value() if callable(value) else value)


def cmd_reward_score(args: argparse.Namespace) -> int:
    try:
        score = importlib.import_module("rewardlab.rewards.score")
    except ImportError as e:
        raise RewardlabError(f"reward scoring is unavailable: {e}") from None
    return int(score.score_command(args.reward, args.input, args.set, limit=args.limit, out=args.out) or 0)


# ---------------------------------------------------------------------------------------------
# parser and entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rewardlab", description="Train action-taking agents from rewards.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train an algorithm; writes a run directory")
    p.add_argument(
        "algo", help="algorithm name (see `rewardlab list algorithms`) or import path pkg.mod:Class"
    )
    p.add_argument(
        "--env", help="environment id (CartPole-v1), task, or import path pkg.mod:Env / file.py:Env"
    )
    p.add_argument("--total-steps", type=int, help="training budget in the algorithm's steps")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="run directory (default runs/<algo>-<env>-s<seed>-<UTC time>)")
    p.add_argument(
        "--config", action="append", default=[], metavar="FILE.toml", help="config file (repeatable)"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its newest checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="re-evaluate a saved run")
    p.add_argument("run", help="run directory")
    p.add_argument("--episodes", type=int, help="evaluation episodes (default: the run's eval_episodes)")
    p.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    p.add_argument("--task", help="LM evaluation: task name (default: the run's task)")
    p.add_argument("--split", help="LM evaluation: task split (default test)")
    p.add_argument("--limit", type=int, help="LM evaluation: number of problems")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="LM evaluation: task parameter"
    )
    p.add_argument("--best-of", type=int, metavar="N", help="LM evaluation: best of N samples by --reward")
    p.add_argument("--reward", help="LM evaluation: selection reward (name, import path, reward-model dir)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("plot", help="overlay learning curves; seeds of one config become mean +- std")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--out", required=True, help="output image, e.g. fig.png")
    p.add_argument("--metric", help="metric to draw (default: the algorithm's curve metric)")
    p.add_argument("--title")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("sweep", help="independent runs over seeds and config values, then one plot")
    p.add_argument("config", metavar="CONFIG.toml", help="config file (with algo = ..., or pass --algo)")
    p.add_argument("--algo", help="algorithm, when the config file names none")
    p.add_argument("--seeds", default="0-2", help="seeds: a range 0-9 or a list 0,3,5 (default 0-2)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2", help="a grid axis (repeatable)")
    p.add_argument(
        "--backend", default="local", choices=["local", "ray"], help="runs in turn, or as Ray tasks"
    )
    p.add_argument(
        "--ray-address", default="", help='Ray cluster to join ("auto", host:port); default: local'
    )
    p.add_argument("--ray-num-cpus", type=int, default=0, help="logical CPUs of a local Ray cluster")
    p.add_argument("--out", help="sweep directory (default sweeps/<algo>-<config>-<UTC time>)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("list", help="list algorithms, environments, rewards and tasks")
    p.add_argument(
        "what", nargs="?", default="all", choices=["all", "algorithms", "envs", "rewards", "tasks"]
    )
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("reward", help="work with rewards")
    rsub = p.add_subparsers(dest="reward_command", required=True, metavar="COMMAND")
    q = rsub.add_parser("score", help="score a JSONL file of samples with a reward")
    q.add_argument(
        "reward",
        metavar="REWARD_OR_CONFIG",
        help="registered reward name, import path (pkg.mod:f, file.py:f) or TOML file",
    )
    q.add_argument("--input", required=True, help="JSONL file of samples")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="reward parameter")
    q.add_argument("--limit", type=int, default=10, help="samples shown in the table")
    q.add_argument("--out", help="scores file (default scores.jsonl beside the input)")
    q.set_defaults(func=cmd_reward_score)

    from rewardlab.offline.data_cli import register as register_data

    register_data(sub)  # rewardlab data generate / info (offline datasets)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or ``kill``'s stop) delivered as an interrupt."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`Terminated` (a KeyboardInterrupt).

    SIGTERM's default action ends the process at once: no ``finally``, no atexit, so browsers,
    worker processes and Ray actors a run started would outlive it. As an interrupt it takes
    Ctrl-C's path instead: the Run closes its envs and pools, atexit handlers run, and the last
    complete checkpoint is kept. A handler the caller installed, or a call off the main thread,
    is left alone."""
    own = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    )
    if own:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if own:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with sigterm_as_interrupt():
            return args.func(args)
    except RewardlabError as e:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print("[bold red]error:[/]", end=" ")
        err.print(str(e), markup=False)
        return e.exit_code
    except KeyboardInterrupt as e:
        term = isinstance(e, Terminated)
        Console(stderr=True).print(
            f"{'terminated (SIGTERM)' if term else 'interrupted'}: the run directory keeps its last "
            "complete checkpoint; continue it with `rewardlab train ALGO --resume RUN_DIR`"
        )
        return 128 + signal.SIGTERM if term else 130


if __name__ == "__main__":
    sys.exit(main())
