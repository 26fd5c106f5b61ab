"""Scale-out on Ray, measured on this machine (run it when the machine is otherwise idle).

1. Env actors (vectorization = "ray"): 2,048 vector steps of an env whose step sleeps 1 ms (a
   stand-in for a slow simulator), 2 envs in 1 actor vs 2 actors; efficiency T1 / (2 T2), target
   >= 0.9. Also the same on SUMO's single intersection (target >= 0.7).
2. Ray overhead of env actors: W = 1 actor vs the local sync vector env on the same slow env. Env
   actors pay one round trip per vector step.
3. PPO rollout workers (backend = "ray", one round trip per rollout): a 2,048-step PPO rollout
   (4 envs x 512 steps) of the 1 ms env collected by the driver, by backend = "local" with W = 1 and
   by backend = "ray" with W = 1 (target: within 10 % of local), then ray W = 2 x 2 envs
   (efficiency T(W=1) / (2 T(W=2)), target >= 0.9). With --sumo, the same on SUMO (target >= 0.7).
4. Reward pool: 64 rewards of 50 ms each with 4 workers, warm (target <= 1.2 s; serial 3.2 s).

    python benchmarks/ray_scaling.py [--repeats 3] [--sumo] [--sumo-steps 300] [--parts env,rollout,pool,sumo-env,sumo-rollout]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Ray's worker processes import the slow env's module by name: they need this folder on their path.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]
)

from rewardlab.core import ray_backend  # noqa: E402
from rewardlab.rewards.base import Sample, reward  # noqa: E402
from rewardlab.rewards.pool import RewardPool  # noqa: E402
from rewardlab.rl.common import make_vec_env  # noqa: E402
from rewardlab.rl.ppo import PPO, PPOConfig  # noqa: E402

SLOW_ENV = "_slow_env:SlowCartPole-v0"


def time_steps(
    env_id: str, num_envs: int, vectorization: str, workers: int, steps: int, kwargs=None
) -> float:
    envs = make_vec_env(env_id, num_envs, vectorization, kwargs, num_workers=workers)
    try:
        envs.reset(seed=0)
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for _ in range(steps):
            envs.step(rng.integers(0, 2, size=num_envs))
        return time.perf_counter() - start
    finally:
        envs.close()


def time_rollout(env_id: str, backend: str, workers: int, num_envs: int, n_steps: int, kwargs=None) -> float:
    """Wall time of one PPO rollout collection (weights broadcast included), after a warm-up rollout."""
    config = PPOConfig(env=env_id, num_envs=num_envs, n_steps=n_steps, batch_size=n_steps, backend=backend,
                       num_workers=workers, env_kwargs=dict(kwargs or {}), ray_num_cpus=4)  # fmt: skip
    algo = PPO(config)
    try:
        algo.collector.collect(algo.policy, 8)  # actors started, modules imported
        start = time.perf_counter()
        algo.collector.collect(algo.policy, n_steps)
        return time.perf_counter() - start
    finally:
        algo.close()


@reward(name="slow50ms")
def slow(sample: Sample) -> float:
    time.sleep(0.05)
    return 1.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=2048)
    p.add_argument("--sumo", action="store_true", help="also measure SUMO rollouts (slow)")
    p.add_argument("--sumo-steps", type=int, default=300, help="vector steps per SUMO measurement")
    p.add_argument(
        "--parts",
        default="env,rollout,pool",
        help="which of env, rollout, pool, sumo-env, sumo-rollout to measure",
    )
    args = p.parse_args()
    parts = set(args.parts.split(",")) | ({"sumo-env", "sumo-rollout"} if args.sumo else set())
    torch.set_num_threads(1)  # as a run does (num_threads = 1); workers take the driver's count
    ray_backend.acquire("", 4)
    rows = _Rows()

    def median(fn) -> float:
        return statistics.median(fn() for _ in range(args.repeats))

    if "env" in parts:
        t_local = median(lambda: time_steps(SLOW_ENV, 2, "sync", 1, args.steps))
        t1 = median(lambda: time_steps(SLOW_ENV, 2, "ray", 1, args.steps))
        t2 = median(lambda: time_steps(SLOW_ENV, 2, "ray", 2, args.steps))
        rows.append(
            (
                "env actors, 1 ms env, 2 envs: sync / ray W=1 / ray W=2 (s)",
                f"{t_local:.2f} / {t1:.2f} / {t2:.2f}",
            )
        )
        rows.append(("env actors: efficiency T1 / (2 T2) (target >= 0.9)", f"{t1 / (2 * t2):.2f}"))
        rows.append(("env actors W=1 / local sync (one round trip per step)", f"{t1 / t_local:.2f}"))
    if "sumo-env" in parts:
        kw = {"num_seconds": 100_000}
        s1 = median(lambda: time_steps("sumo-single-intersection", 2, "ray", 1, args.sumo_steps, kw))
        s2 = median(lambda: time_steps("sumo-single-intersection", 2, "ray", 2, args.sumo_steps, kw))
        rows.append(
            (f"env actors, SUMO 2 envs x {args.sumo_steps} steps: W=1 / W=2 (s)", f"{s1:.2f} / {s2:.2f}")
        )
        rows.append(("env actors, SUMO efficiency (target >= 0.7)", f"{s1 / (2 * s2):.2f}"))
    if "rollout" in parts:
        n = args.steps // 4  # 4 envs: a 2,048-step rollout by default
        d = median(lambda: time_rollout(SLOW_ENV, "driver", 1, 4, n))
        loc = median(lambda: time_rollout(SLOW_ENV, "local", 1, 4, n))
        r1 = median(lambda: time_rollout(SLOW_ENV, "ray", 1, 4, n))
        r2 = median(lambda: time_rollout(SLOW_ENV, "ray", 2, 4, n))
        rows.append((f"rollout workers, 1 ms env, 4 x {n} steps: driver / local W=1 / ray W=1 / ray W=2 (s)",
                     f"{d:.2f} / {loc:.2f} / {r1:.2f} / {r2:.2f}"))  # fmt: skip
        rows.append(("rollout workers: ray W=1 / local W=1 (target <= 1.10)", f"{r1 / loc:.3f}"))
        rows.append(
            ("rollout workers: efficiency T(W=1) / (2 T(W=2)) (target >= 0.9)", f"{r1 / (2 * r2):.2f}")
        )
    if "sumo-rollout" in parts:
        kw = {"num_seconds": 100_000}
        n = args.sumo_steps
        s1 = median(lambda: time_rollout("sumo-single-intersection", "ray", 1, 2, n, kw))
        s2 = median(lambda: time_rollout("sumo-single-intersection", "ray", 2, 2, n, kw))
        rows.append((f"rollout workers, SUMO 2 envs x {n} steps: W=1 / W=2 (s)", f"{s1:.2f} / {s2:.2f}"))
        rows.append(("rollout workers, SUMO efficiency (target >= 0.7)", f"{s1 / (2 * s2):.2f}"))
    if "pool" in parts:
        samples = [Sample(completion=str(i)) for i in range(64)]
        for backend in ("local", "ray"):
            with RewardPool(slow, 4, backend=backend) as pool:
                pool.score(samples[:8])  # warm: workers started
                t = median(lambda pool=pool: _timed(pool.score, samples))
            rows.append((f"reward pool {backend}: 64 x 50 ms, 4 workers (target <= 1.2 s)", f"{t:.2f}"))
    ray_backend.release()
    width = max(len(r[0]) for r in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


class _Rows(list):
    """The result table, each row also printed when measured (a long run that fails keeps its rows)."""

    def append(self, row) -> None:
        print(f"{row[0]}  {row[1]}", flush=True)
        super().append(row)


def _timed(fn, *a) -> float:
    start = time.perf_counter()
    fn(*a)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
