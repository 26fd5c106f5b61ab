"""``rewardlab``: train / eval / plot / list / reward.

    rewardlab train ppo --env CartPole-v1 --total-steps 100000 --seed 0 --out runs/x
    rewardlab train ppo --resume runs/x
    rewardlab eval runs/x --episodes 20
    rewardlab eval smollm2-135m-instruct --task arithmetic --split test --limit 200
    rewardlab plot runs/a runs/b --out fig.png
    rewardlab list [algorithms|envs|rewards|tasks]
    rewardlab reward score REWARD_OR_CONFIG --input samples.jsonl
    rewardlab data generate --env Pendulum-v1 --policy runs/x --split policy --steps 100000 --out NAME
    rewardlab data info NAME

Errors in the user's input print one clear message (no traceback) and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
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
    return {
        k: v
        for k, v in {"env": args.env, "total_steps": args.total_steps, "seed": args.seed}.items()
        if v is not None
    }


def cmd_train(args: argparse.Namespace) -> int:
    from rewardlab.config import load_toml, parse_set_args
    from rewardlab.core.run import Run, load_saved_config, new_config

    console = _console()
    registry.get_algorithm(args.algo)  # an unknown name fails here, with did-you-mean, before any work
    if args.resume:
        saved_algo, _ = load_saved_config(args.resume)
        if saved_algo != args.algo:
            raise RewardlabError(
                f"--resume {args.resume}: that run was trained with {saved_algo!r}, not {args.algo!r}; "
                f"use `rewardlab train {saved_algo} --resume {args.resume}`"
            )
        overrides: dict[str, Any] = {}
        for path in args.config:
            data = load_toml(path)
            data.pop("algo", None)
            overrides.update(data)
        overrides.update(_cli_overrides(args))
        overrides.update(parse_set_args(args.set))
        run = Run.resume(args.resume, overrides, console=console)
        console.print(f"Resuming [bold]{args.algo}[/] in {run.run_dir} from step {run.algo.global_step}")
    else:
        config = new_config(args.algo, files=args.config, sets=args.set, cli=_cli_overrides(args))
        if not config.env:
            raise RewardlabError(f"no environment given: pass --env (see `rewardlab list envs`) for {args.algo}")
        run = Run.start(args.algo, config, args.out, console=console)
        console.print(
            f"Training [bold]{args.algo}[/] on [bold]{config.env}[/] for {config.total_steps:,} steps "
            f"(seed {config.seed}, {config.num_threads} torch thread(s)) -> {run.run_dir}"
        )
    result = run.train(progress=not args.no_progress)
    _print_eval(console, result)
    console.print(f"Run directory: {run.run_dir}")
    return 0


def _print_eval(console: Console, result: dict[str, Any]) -> None:
    shown = {k: v for k, v in result.items() if not isinstance(v, list | dict)}
    table = Table(title="evaluation", show_header=True)
    for key in shown:
        table.add_column(key)
    table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in shown.values()))
    console.print(table)


# ---------------------------------------------------------------------------------------------
# eval / plot / list


def _is_lm_run(run_dir: Path) -> bool:
    from rewardlab.core.run import load_saved_config
    from rewardlab.llm import ALGORITHMS as LM_ALGORITHMS

    return load_saved_config(run_dir)[0] in LM_ALGORITHMS


def cmd_eval(args: argparse.Namespace) -> int:
    from rewardlab.core.run import evaluate_run

    target = Path(args.run)
    is_run = (target / "config.toml").is_file()
    if not is_run and args.task is None:
        raise RewardlabError(
            f"{args.run!r} is not a rewardlab run directory (it has no config.toml); to evaluate a "
            f"language model by name or path, also give --task (e.g. --task arithmetic)"
        )
    if args.task is not None or _is_lm_run(target):
        from rewardlab.config import parse_set_args
        from rewardlab.llm.evaluate import evaluate_run_or_model

        result = evaluate_run_or_model(
            args.run, task=args.task, split=args.split, limit=args.limit, task_params=parse_set_args(args.set)
        )
    else:
        result = evaluate_run(args.run, args.episodes)
    console = _console()
    _print_eval(console, result)
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
            examples = [i for i in ("CartPole-v1", "Pendulum-v1", "Acrobot-v1", "CliffWalking-v1") if i in ids]
            table.add_row(f"+ {len(ids)} Gymnasium ids", "e.g. " + ", ".join(examples) + " (rewardlab list envs)")
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
    p.add_argument("algo", help="algorithm name (see `rewardlab list algorithms`)")
    p.add_argument("--env", help="environment id, e.g. CartPole-v1")
    p.add_argument("--total-steps", type=int, help="training budget in the algorithm's steps")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="run directory (default runs/<algo>-<env>-<UTC time>)")
    p.add_argument("--config", action="append", default=[], metavar="FILE.toml", help="config file (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its newest checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="re-evaluate a saved run")
    p.add_argument("run", help="run directory")
    p.add_argument("--episodes", type=int, help="evaluation episodes (default: the run's eval_episodes)")
    p.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    p.add_argument("--task", help="LM evaluation: task name (default: the run's task)")
    p.add_argument("--split", default="test", help="LM evaluation: task split (default test)")
    p.add_argument("--limit", type=int, help="LM evaluation: number of problems")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="LM evaluation: task parameter")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("plot", help="overlay learning curves; seeds of one config become mean +- std")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--out", required=True, help="output image, e.g. fig.png")
    p.add_argument("--metric", help="metric to draw (default: the algorithm's curve metric)")
    p.add_argument("--title")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("list", help="list algorithms, environments, rewards and tasks")
    p.add_argument("what", nargs="?", default="all", choices=["all", "algorithms", "envs", "rewards", "tasks"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("reward", help="work with rewards")
    rsub = p.add_subparsers(dest="reward_command", required=True, metavar="COMMAND")
    q = rsub.add_parser("score", help="score a JSONL file of samples with a reward")
    q.add_argument("reward", metavar="REWARD_OR_CONFIG", help="registered reward name or reward TOML file")
    q.add_argument("--input", required=True, help="JSONL file of samples")
    q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="reward parameter")
    q.add_argument("--limit", type=int, default=10, help="samples shown in the table")
    q.add_argument("--out", help="scores file (default scores.jsonl beside the input)")
    q.set_defaults(func=cmd_reward_score)

    from rewardlab.offline.data_cli import register as register_data

    register_data(sub)  # rewardlab data generate / info (offline datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RewardlabError as e:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print("[bold red]error:[/]", end=" ")
        err.print(str(e), markup=False)
        return e.exit_code
    except KeyboardInterrupt:
        Console(stderr=True).print(
            "interrupted: the run directory keeps its last complete checkpoint; continue it with "
            "`rewardlab train ALGO --resume RUN_DIR`"
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
