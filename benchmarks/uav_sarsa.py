"""Multi-UAV offloading: distributed (independent) SARSA vs independent Q-learning vs random agents.

The paper's claim (seeds_table row 3): with the same training budget, distributed SARSA reaches a
higher mean number of users associated with UAVs than Q-learning and random UAVs. Setting: 10 x 10
grid, 3 UAVs, 50 users (the default ``uav-offloading`` layout), episodes of 50 steps starting at the
base station, epsilon = 0.1, alpha = 0.1, gamma = 0.9. Each learner trains for ``--steps`` env
steps; then its greedy joint policy is evaluated (associated users averaged over the episode's
steps, and at the last step). Also printed: a greedy placement upper reference (UAVs placed one
by one on the best cell for the static layout).

Run:  .venv/bin/python benchmarks/uav_sarsa.py [--seeds 5] [--steps 100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rewardlab.config import build_config
from rewardlab.envs.uav_offloading import UAVOffloadingEnv
from rewardlab.tabular.independent import (
    IndependentConfig,
    IndependentQLearning,
    IndependentSarsa,
    RandomAgents,
)


def train_and_eval(cls, seed: int, steps: int) -> tuple[float, float, list[float], float]:
    config = build_config(IndependentConfig, sets=[f"seed={seed}", f"total_steps={steps}", "episodes_per_step=20"])
    algo = cls(config)
    curve = []
    start = time.perf_counter()
    while algo.global_step < steps:
        curve.append(algo.step()["associated_users_mean"])
    seconds = time.perf_counter() - start
    ev = algo.evaluate(5)
    return ev["associated_users_mean"], ev["associated_users_final"], curve, seconds


def greedy_placement(n_uavs: int = 3) -> int:
    env = UAVOffloadingEnv()
    cells = [np.array([x, y]) for x in range(env.grid_size) for y in range(env.grid_size)]
    placed: list[np.ndarray] = []
    for _ in range(n_uavs):
        best = max(cells, key=lambda c: env.associated_users(np.array([*placed, c])))
        placed.append(best)
    return env.associated_users(np.array(placed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100_000)
    args = parser.parse_args()
    print(f"uav-offloading 10x10, 3 UAVs, 50 users; {args.steps:,} training steps; {args.seeds} seeds; "
          f"greedy evaluation over 5 episodes\n")
    print(f"| {'agents':<22} | {'users/step (greedy)':>20} | {'users at end':>14} | "
          f"{'online, last 10%':>17} | {'train s':>7} |")
    print(f"|{'-' * 24}|{'-' * 22}|{'-' * 16}|{'-' * 19}|{'-' * 9}|")
    for name, cls in [("independent SARSA", IndependentSarsa), ("independent Q-learning", IndependentQLearning),
                      ("random", RandomAgents)]:
        res = [train_and_eval(cls, s, args.steps) for s in range(args.seeds)]
        mean = np.array([r[0] for r in res])
        final = np.array([r[1] for r in res])
        online = np.array([np.mean(r[2][-max(1, len(r[2]) // 10):]) for r in res])
        se = np.sqrt(len(res))
        print(f"| {name:<22} | {mean.mean():>12.2f} ± {mean.std(ddof=1) / se:<5.2f} | "
              f"{final.mean():>7.1f} ± {final.std(ddof=1) / se:<4.1f} | "
              f"{online.mean():>10.2f} ± {online.std(ddof=1) / se:<4.2f} | {np.mean([r[3] for r in res]):>7.1f} |")
    print(f"\ngreedy static placement of 3 UAVs (reference, not learned): {greedy_placement()} users")


if __name__ == "__main__":
    main()
