"""Whole-process PPO on CartPole-v1: `rewardlab train` vs a Stable-Baselines3 script, imports included.

The issue's measure (start-up counts): each side is a fresh Python process that imports what it
needs, trains examples/ppo_cartpole.toml's rl-zoo3 settings and evaluates; the pairs alternate so a
change in machine load hits both. Prints wall and CPU seconds per process and the median ratio.

    python benchmarks/process_ppo_vs_sb3.py                    # 3 pairs, 100k steps (about 6 minutes)
    python benchmarks/process_ppo_vs_sb3.py --total-steps 256  # start-up and evaluation only
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SB3 = """
import sys, tomllib
import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

c = tomllib.load(open(sys.argv[1], "rb"))
seed, total = int(sys.argv[2]), int(sys.argv[3])
linear = lambda start: (lambda remaining: start * remaining)
envs = make_vec_env(lambda: gym.make(c["env"]), n_envs=c["num_envs"], seed=seed)
model = PPO("MlpPolicy", envs, n_steps=c["n_steps"], batch_size=c["batch_size"], n_epochs=c["n_epochs"],
            gamma=c["gamma"], gae_lambda=c["gae_lambda"], ent_coef=c["ent_coef"], vf_coef=c["vf_coef"],
            max_grad_norm=c["max_grad_norm"], learning_rate=linear(c["learning_rate"]),
            clip_range=linear(c["clip_range"]),
            policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=torch.nn.Tanh),
            seed=seed, device="cpu", verbose=0)
model.learn(total)
mean, std = evaluate_policy(model, gym.make(c["env"]), n_eval_episodes=10, deterministic=True)
print(f"eval {mean:.1f}")
"""


def _timed(cmd: list[str], cwd: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its last output line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, (done.stdout.strip().splitlines() or [""])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--total-steps", type=int, default=100_000)
    args = parser.parse_args()
    config = ROOT / "examples" / "ppo_cartpole.toml"
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "sb3_ppo.py"
        script.write_text(SB3)
        for seed in range(args.pairs):
            ours = [sys.executable, "-m", "rewardlab.cli", "train", "ppo", "--config", str(config), "--seed",
                    str(seed), "--total-steps", str(args.total_steps), "--out", f"run{seed}", "--no-progress"]  # fmt: skip
            r_wall, r_cpu, _ = _timed(ours, tmp)
            s_wall, s_cpu, s_line = _timed(
                [sys.executable, str(script), str(config), str(seed), str(args.total_steps)], tmp
            )
            ratios.append(s_wall / r_wall)
            print(f"seed {seed}: rewardlab {r_wall:.2f} s wall ({r_cpu:.2f} s CPU), SB3 {s_wall:.2f} s wall "
                  f"({s_cpu:.2f} s CPU, {s_line}); ratio {s_wall / r_wall:.2f}")  # fmt: skip
    print(f"median speed ratio (SB3 wall / rewardlab wall): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
