"""V-PTR, scaled: ICVF pre-training of phi on action-free trajectories to other goals of a 7x7 grid
with random 64-D cell observations, then discrete CQL from 5 labelled target trajectories on phi
(frozen) against the same encoder trained from scratch and a frozen random encoder. The claim:
success with the pre-trained phi > from scratch, over 5 seeds.

    python benchmarks/vptr_grid.py --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from rewardlab.offline.vptr import VPTRConfig, experiment


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--icvf-steps", type=int, default=1500)
    p.add_argument("--cql-steps", type=int, default=1000)
    p.add_argument("--labelled", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for seed in args.seeds:
        start = time.process_time()
        c = VPTRConfig(seed=seed, icvf_steps=args.icvf_steps, cql_steps=args.cql_steps,
                       labelled_trajectories=args.labelled)  # fmt: skip
        rows.append(experiment(c) | {"cpu_s": time.process_time() - start})
        print(f"seed {seed}: {json.dumps(rows[-1])}", flush=True)
    for arm in ("pretrained", "scratch", "random_frozen"):
        v = [r[arm] for r in rows]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"{arm}: success {statistics.mean(v):.3f} +- {sd:.3f} (seeds {args.seeds})")
    wins = sum(r["pretrained"] > r["scratch"] for r in rows)
    print(f"pre-trained above scratch on {wins} of {len(rows)} seeds")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
