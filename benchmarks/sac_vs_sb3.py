"""SAC, TD3 and DDPG, rewardlab vs Stable-Baselines3 2.9, identical RL Zoo settings, one table.

Both libraries read the same example TOML; they alternate seed by seed in one process on one torch
thread (a shared machine's load then hits both alike), and the table gives each seed's
deterministic eval return over 20 episodes, the median steps/s and the speed ratio.

Pendulum-v1 (examples/{sac,td3,ddpg}_pendulum.toml, 20k steps; issue 12's targets: mean return
>= -200 with every seed >= -250, and >= 1.5x SB3's steps/s):

    python benchmarks/sac_vs_sb3.py --algo sac                 # 3 seeds x 20k steps
    python benchmarks/sac_vs_sb3.py --algo td3 --seeds 0 --total-steps 12000

MuJoCo and Box2D (opt-in, long; returns within SB3's range at the same budget, >= 1.5x its speed):

    python benchmarks/sac_vs_sb3.py --algo sac --example sac_invertedpendulum.toml   # 20k steps
    python benchmarks/sac_vs_sb3.py --algo sac --example sac_halfcheetah.toml        # 100k steps
    python benchmarks/sac_vs_sb3.py --algo td3 --example td3_lunarlander.toml        # 300k steps, >= 200

``--results runs.jsonl`` appends every finished run as one JSON line (a long job that is stopped
keeps what it finished); ``--table runs.jsonl`` prints the markdown table of such a file without
running anything.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from _peer import run_peer, run_rewardlab

LIBRARIES = ("rewardlab", "SB3")


def make_sb3(algo: str):
    def make(c: dict, seed: int):
        import stable_baselines3 as sb3

        common = dict(
            learning_rate=c["learning_rate"], buffer_size=c["buffer_size"], learning_starts=c["learning_starts"],
            batch_size=c["batch_size"], tau=c["tau"], gamma=c["gamma"], train_freq=c["train_freq"],
            gradient_steps=c["gradient_steps"], policy_kwargs=dict(net_arch=list(c["hidden_sizes"])),
            seed=seed, device="cpu", verbose=0,
        )  # fmt: skip
        env = gym.make(c["env"])
        if algo == "sac":
            return sb3.SAC("MlpPolicy", env, ent_coef=c["ent_coef"], target_entropy=c["target_entropy"],
                           target_update_interval=c["target_update_interval"], **common)  # fmt: skip
        from stable_baselines3.common.noise import NormalActionNoise

        dim = int(np.prod(env.action_space.shape))
        noise = (
            NormalActionNoise(np.zeros(dim), c["noise_std"] * np.ones(dim))
            if c["action_noise"] == "normal"
            else None
        )
        if algo == "td3":
            return sb3.TD3("MlpPolicy", env, action_noise=noise, policy_delay=c["policy_delay"],
                           target_policy_noise=c["target_policy_noise"], target_noise_clip=c["target_noise_clip"],
                           **common)  # fmt: skip
        return sb3.DDPG("MlpPolicy", env, action_noise=noise, **common)

    return make


def markdown_table(rows: list[dict]) -> str:
    """One markdown block per (algo, example, steps): a row per library, then the speed ratio."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["algo"], r["example"], r["total_steps"])].append(r)
    out = []
    for (algo, example, steps), rs in groups.items():
        out += [
            f"**{algo.upper()}**, `examples/{example}`, {steps:,} steps",
            "",
            "| library | eval return per seed (20 episodes) | mean +- std | median steps/s | median steps/CPU-s |",
            "|---|---|---|---|---|",
        ]
        sps = {}
        for lib in LIBRARIES:
            mine = sorted((r for r in rs if r["library"] == lib), key=lambda r: r["seed"])
            if not mine:
                continue
            returns = [r["return"] for r in mine]
            sps[lib] = (
                statistics.median(r["sps"] for r in mine),
                statistics.median(r["cpu_sps"] for r in mine),
            )
            per_seed = ", ".join(f"{r['return']:.1f} (seed {r['seed']})" for r in mine)
            out.append(f"| {lib} | {per_seed} | {np.mean(returns):.1f} +- {np.std(returns):.1f} | "
                       f"{sps[lib][0]:.0f} | {sps[lib][1]:.0f} |")  # fmt: skip
        if len(sps) == 2:
            (ow, oc), (pw, pc) = sps["rewardlab"], sps["SB3"]
            out += ["", f"Speed ratio rewardlab / SB3: **{ow / pw:.2f}x** wall-clock, {oc / pc:.2f}x per CPU-second "
                        "(medians over seeds)."]  # fmt: skip
        curved = [r for r in rs if r.get("curve")]
        if curved:
            points = sorted({int(k) for r in curved for k in r["curve"]})
            out += ["", "Learning curve (deterministic eval return over 20 episodes at env step):", "",
                    "| library | seed | " + " | ".join(f"{p:,}" for p in points) + " |",
                    "|---|---|" + "---|" * len(points)]  # fmt: skip
            for r in sorted(curved, key=lambda r: (LIBRARIES.index(r["library"]), r["seed"])):
                values = {int(k): v for k, v in r["curve"].items()}
                cells = " | ".join(f"{values[p]:.0f}" if p in values else "" for p in points)
                out.append(f"| {r['library']} | {r['seed']} | {cells} |")
        out.append("")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", choices=["sac", "td3", "ddpg"], default="sac")
    p.add_argument("--example", help="a TOML in examples/ (default: <algo>_pendulum.toml)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--total-steps", type=int, help="override the example's budget (for a quick look)")
    p.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    p.add_argument("--curve", type=int, nargs="*", help="also evaluate at these env steps (learning curves)")
    p.add_argument("--results", type=Path, help="append each finished run to this JSONL file")
    p.add_argument("--table", type=Path, help="only print the markdown table of a --results file")
    args = p.parse_args()
    if args.table:
        print(
            markdown_table([json.loads(line) for line in args.table.read_text().splitlines() if line.strip()])
        )
        return
    algo = args.algo
    example = args.example or f"{algo}_pendulum.toml"
    torch.set_num_threads(1)
    runners = {
        "rewardlab": lambda s: run_rewardlab(algo, example, s, args.total_steps, args.curve),
        "SB3": lambda s: run_peer(make_sb3(algo), algo, example, s, args.total_steps, args.curve),
    }
    rows = []
    for seed in args.seeds:
        for lib in args.libraries:
            r = runners[lib](seed)
            steps = int(round(r["sps"] * r["time"]))
            row = {"algo": algo, "example": example, "total_steps": steps, "library": lib, "seed": seed, **r}
            rows.append(row)
            print(f"{lib:>10} {algo} {example} seed {seed}: {r['sps']:.0f} steps/s ({r['cpu_sps']:.0f} per "
                  f"CPU-s), {r['time']:.0f} s, eval return {r['return']:.1f}"
                  + (f", curve {r['curve']}" if r.get("curve") else ""), flush=True)  # fmt: skip
            if args.results:
                with args.results.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print(markdown_table(rows), flush=True)


if __name__ == "__main__":
    main()
