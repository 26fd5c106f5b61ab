"""PPO's signal controller against SUMO's fixed-time program on the single intersection: mean vehicle
waiting time (seconds, lower is better) over the same evaluation seeds.

    rewardlab train ppo --config examples/scale/ppo_sumo_single_intersection.toml --out runs/sumo
    python benchmarks/sumo_ppo_vs_fixed.py runs/sumo [--episodes 3]
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

import rewardlab
from rewardlab.envs.sumo import TrafficSignalEnv


def mean_waiting_time(act, seed: int, num_seconds: int, fixed_time: bool) -> float:
    env = TrafficSignalEnv(num_seconds=num_seconds, fixed_time=fixed_time)
    try:
        obs, _ = env.reset(seed=seed)
        waits, done = [], False
        while not done:
            obs, _, terminated, truncated, info = env.step(int(act(obs)))
            waits.append(info["system_mean_waiting_time"])
            done = terminated or truncated
        return float(np.mean(waits))
    finally:
        env.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run", help="a PPO run directory on sumo-single-intersection")
    p.add_argument("--episodes", type=int, default=3)
    args = p.parse_args()
    agent = rewardlab.load(args.run)
    config = agent.config
    num_seconds = int(config.env_kwargs.get("num_seconds", 3600))
    seeds = [10_000 + i for i in range(args.episodes)]
    ppo = [mean_waiting_time(lambda o: agent.predict(o)[0], s, num_seconds, False) for s in seeds]
    fixed = [mean_waiting_time(lambda o: 0, s, num_seconds, True) for s in seeds]
    print(f"mean waiting time over {args.episodes} episodes of {num_seconds} s (seeds {seeds}):")
    print(f"  PPO ({config.total_steps:,} steps): {statistics.mean(ppo):.2f} s  per episode {[round(x, 2) for x in ppo]}")
    print(f"  fixed-time program:        {statistics.mean(fixed):.2f} s  per episode {[round(x, 2) for x in fixed]}")


if __name__ == "__main__":
    main()
