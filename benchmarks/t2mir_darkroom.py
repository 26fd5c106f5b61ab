"""In-context RL on Darkroom 5x5: Algorithm Distillation against T2MIR's MoE variant, trained on
one Q-learning history per training goal (19 goals) and played, with frozen weights, for several
consecutive episodes on the 5 held-out goals. The claims (T2MIR paper, scaled): the held-out return
rises across the episodes of one context; T2MIR >= AD; expert load cv^2 < 0.1.

    python benchmarks/t2mir_darkroom.py --steps 2000 --history-episodes 60 --episodes 8 --seeds 0
    python benchmarks/t2mir_darkroom.py --steps 800 --seeds 1 --out benchmarks/results/t2mir_darkroom.jsonl

``--out`` appends one JSON line per (seed, model) as soon as it finishes, so seeds can run as
separate pieces; ``--eval-runs`` repeats the in-context evaluation with other sampling seeds (the
weights stay frozen) and averages the curves.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from rewardlab.offline.ad import AD, ADConfig
from rewardlab.offline.darkroom import goal_split, learning_history, optimal_return


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=5)
    p.add_argument("--horizon", type=int, default=25)
    p.add_argument("--history-episodes", type=int, default=60)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--episodes", type=int, default=8, help="in-context episodes per held-out goal")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument(
        "--eval-runs", type=int, default=1, help="in-context evaluations averaged (sampling seeds)"
    )
    p.add_argument("--json", help="write every result to this JSON file")
    p.add_argument("--out", help="append one JSON line per (seed, model) to this file")
    args = p.parse_args()
    torch.set_num_threads(1)
    train, held = goal_split(args.size)
    best = np.array([optimal_return(args.size, g, args.horizon) for g in held])
    results = {}
    for seed in args.seeds:
        histories = [learning_history(args.size, g, args.history_episodes, args.horizon, seed=100 * seed + i)
                     for i, g in enumerate(train)]  # fmt: skip
        for name in ("ad", "t2mir"):
            start = time.process_time()
            model = AD(histories, ADConfig(t2mir=name == "t2mir", steps=args.steps, seed=seed))
            log = model.fit()
            train_cpu = time.process_time() - start
            outs = [model.in_context(args.size, held, args.episodes, seed=1000 * seed + j)
                    for j in range(args.eval_runs)]  # fmt: skip
            # fraction of the optimal return per in-context episode, over held-out goals and runs
            curve = np.mean([(o["returns"] / best[:, None]).mean(0) for o in outs], 0)
            row = {"curve": curve.round(3).tolist(), "first": float(curve[0]), "last2": float(curve[-2:].mean()),
                   "ce": float(np.mean([r["ce"] for r in log[-100:]])), "cpu_s": time.process_time() - start,
                   "train_cpu_s_per_step": train_cpu / args.steps,
                   **{k: float(np.mean([o[k] for o in outs])) for k in outs[0] if k.endswith("cv2")}}  # fmt: skip
            results.setdefault(name, []).append(row)
            print(f"seed {seed} {name}: {json.dumps(row)}", flush=True)
            if args.out:
                line = {"model": name, "seed": seed, **{k: v for k, v in vars(args).items() if k not in
                        ("seeds", "json", "out")}, "held_out_goals": [list(g) for g in held], **row,
                        "load": os.getloadavg()[0]}  # fmt: skip
                with open(args.out, "a") as f:
                    f.write(json.dumps(line) + "\n")
    for name, rows in results.items():
        print(f"{name}: first episode {np.mean([r['first'] for r in rows]):.3f}, last two "
              f"{np.mean([r['last2'] for r in rows]):.3f} of optimal (held-out goals, seeds {args.seeds})")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
