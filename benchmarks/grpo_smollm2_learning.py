"""Base vs GRPO-trained SmolLM2-135M-Instruct on the same held-out problems.

    rewardlab train grpo --config examples/grpo_smollm2_arithmetic.toml --out runs/grpo_arith
    python benchmarks/grpo_smollm2_learning.py runs/grpo_arith

The base model is the run's own config at step 0 (a fresh LoRA adapter starts at zero, so the
policy is exactly the pretrained model), evaluated with the same prompts, chat template, greedy
decoding and completion length as the trained policy; the trained row is the newest checkpoint.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from rich.console import Console
from rich.table import Table

from rewardlab import registry
from rewardlab.core.run import checkpoints, load_saved_config, read_metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="a grpo/rloo run directory")
    p.add_argument("--limit", type=int, help="held-out problems (default: the run's eval_episodes)")
    args = p.parse_args()

    algo_name, config = load_saved_config(args.run)
    limit = args.limit or config.eval_episodes
    rows = []
    for label, checkpoint in (("base (step 0)", None), ("trained", checkpoints(args.run)[-1])):
        algo = registry.get_algorithm(algo_name)(config)
        if checkpoint is not None:
            algo.load_state_dict(torch.load(checkpoint / "state.pt", weights_only=False)["algo"])
        start = time.perf_counter()
        result = algo.evaluate_task(split="test", limit=limit)
        rows.append((label, algo.global_step, result, time.perf_counter() - start))
        algo.close()

    metrics = read_metrics(args.run)
    train_minutes = metrics[-1]["time"] / 60 if metrics else float("nan")
    table = Table(title=f"{config.model} on {config.env} {config.task_params} — {limit} held-out problems")
    for col in ("policy", "step", "accuracy", "mean reward", "eval seconds"):
        table.add_column(col)
    for label, step, result, seconds in rows:
        table.add_row(label, str(step), f"{result['accuracy']:.1%}", f"{result['mean_return']:.3f}", f"{seconds:.0f}")
    console = Console()
    console.print(table)
    gain = rows[1][2]["accuracy"] - rows[0][2]["accuracy"]
    console.print(f"accuracy gain: {gain * 100:+.1f} points after {train_minutes:.1f} minutes of training "
                  f"({config.num_threads} torch threads)")  # fmt: skip
    print(json.dumps({"base": rows[0][2]["accuracy"], "trained": rows[1][2]["accuracy"], "train_minutes": train_minutes}))


if __name__ == "__main__":
    main()
