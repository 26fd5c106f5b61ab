"""SmolLM2-135M-Instruct (LoRA) GRPO on miniwob's real pages, with a wall-clock training budget.

    PYTHONPATH=src nice -n 10 python benchmarks/agents_miniwob_smollm2.py \
        --config examples/agents/miniwob_smollm2.toml --minutes 60 --out miniwob_smollm2.json

1. the model before training, greedy, on the first ``--eval-limit`` held-out pages, under the
   run's own ``[agent]`` settings (the same episodes every time: fixed page and reset seeds);
2. GRPO steps with the config's settings until ``--minutes`` of training wall time (or
   ``--steps``), the held-out pages every ``--eval-every`` steps;
3. the held-out pages again.
Seconds per step (with browser start-ups counted apart: ``browsers_started``) and every phase's
numbers are printed and written to ``--out`` as they come. ``--set key=value`` overrides the
config as the CLI's ``--set`` does. Browsers are quit at the end (``algo.close()``).
"""

import argparse
import datetime
import json
import time

import torch

from rewardlab.agents.envs.miniwob import POOL
from rewardlab.cli import sigterm_as_interrupt
from rewardlab.config import build_config
from rewardlab.llm.grpo import GRPO, GRPOConfig


def evaluate(algo, limit, batch):
    t0 = time.perf_counter()
    out = algo.agent_loop.evaluate(split="test", limit=limit, batch_size=batch)
    keep = ("success_rate", "mean_return", "tools/calls_per_episode", "tools/malformed_rate", "turns/mean")
    row = {k: round(float(out[k]), 4) for k in keep if k in out}
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["examples"] = [s["transcript"][-400:] for s in out["samples"][:2]]
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="examples/agents/miniwob_smollm2.toml")
    ap.add_argument("--set", action="append", default=[], help="key=value override (as the CLI's --set)")
    ap.add_argument("--minutes", type=float, default=60.0, help="training wall-clock budget")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0 = the budget only)")
    ap.add_argument("--eval-limit", type=int, default=50)
    ap.add_argument(
        "--eval-every", type=int, default=0, help="held-out evaluation every N steps (0 = end only)"
    )
    ap.add_argument("--out", default="miniwob_smollm2.json")
    ap.add_argument("--skip-base", action="store_true")
    ap.add_argument(
        "--stop-at", default="", help="UTC HH:MM: stop training then (leaves time for the last eval)"
    )
    ap.add_argument("--eval-batch", type=int, default=16, help="held-out pages run at once (live browsers)")
    args = ap.parse_args()
    cfg = build_config(GRPOConfig, files=[args.config], sets=args.set)
    torch.manual_seed(cfg.seed)
    algo = GRPO(cfg)
    report = {"args": vars(args), "config": {k: str(v) for k, v in vars(cfg).items()}}

    def log(name, row):
        report[name] = row
        print(name, json.dumps(row), flush=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)

    try:
        if not args.skip_base:
            log("before", evaluate(algo, args.eval_limit, args.eval_batch))
        train, step, curve = 0.0, 0, []
        stop = float("inf")
        if args.stop_at:
            now = datetime.datetime.now(datetime.UTC)
            hh, mm = map(int, args.stop_at.split(":"))
            stop = time.time() + (now.replace(hour=hh, minute=mm, second=0) - now).total_seconds()
        while train < args.minutes * 60 and (args.steps == 0 or step < args.steps) and time.time() < stop:
            t0, started = time.perf_counter(), POOL.started
            m = algo.step()
            step += 1
            dt = time.perf_counter() - t0
            train += dt
            keys = (
                "reward",
                "turns/mean",
                "tools/malformed_rate",
                "time/generate",
                "time/env",
                "time/update",
            )
            row = {k: round(float(m[k]), 3) for k in keys if k in m}
            row.update(step=step, seconds=round(dt, 1), browsers_started=POOL.started - started)
            curve.append(row)
            print("step", json.dumps(row), flush=True)
            report["curve"] = curve
            if args.eval_every and step % args.eval_every == 0:
                log(f"eval_step_{step}", evaluate(algo, args.eval_limit, args.eval_batch))
        log("train", {"steps": step, "minutes": round(train / 60, 2)})
        if step:
            log("after", evaluate(algo, args.eval_limit, args.eval_batch))
    finally:
        algo.close()


if __name__ == "__main__":
    with sigterm_as_interrupt():  # a `kill` still quits the browsers (finally: algo.close())
        main()
