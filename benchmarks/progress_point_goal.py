"""A VLAC-style progress critic as PPO's dense reward on ``point-goal`` with random goals.

Two parts. (1) The critic (``ProgressCritic``) learns from synthetic noisy straight paths in the
unit square (``straight_paths``: 2000 train, 200 held out) with forward, reversed and
mismatched-goal pairs; reported on held-out pairs: sign accuracy on moving pairs, mean |delta|
for a mismatched goal (the research note's target < 0.1), and the median VOC of the rebuilt
values. (2) PPO on ``point-goal`` (``random_goal = True``: each episode draws a start and a goal,
so the reward must read the goal; horizon 100, goal radius 0.03) with the sparse reward alone
(the control) and with ``progress`` (the frozen critic's ``delta(pos_t, pos_t+1, goal)``) added;
the deterministic policy's success rate over 20 episodes at each fifth of training.

Run:  .venv/bin/python benchmarks/progress_point_goal.py [--steps 100000] [--seeds 0] [--critic-steps 2000] [--no-antisymmetric]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rewardlab.rewards.learned.progress_critic import (
    ProgressCritic,
    progress_pairs,
    straight_paths,
    value_order_correlation,
)
from rewardlab.rl.ppo import PPO, PPOConfig

ENV_KWARGS = {"random_goal": True, "horizon": 100, "goal_radius": 0.03}
PPO_SETTINGS = dict(env="point-goal", env_kwargs=ENV_KWARGS, num_envs=8, n_steps=256, batch_size=256,
                    n_epochs=10, learning_rate=3e-4, gamma=0.99, gae_lambda=0.95, ent_coef=0.0,
                    eval_episodes=20)  # fmt: skip


def train_critic(args: argparse.Namespace, path: Path) -> dict[str, float]:
    rng = np.random.default_rng(0)
    train_paths, train_goals = straight_paths(rng, 2000)
    test_paths, test_goals = straight_paths(rng, 200)
    critic = ProgressCritic(2, 2, seed=0, learning_rate=3e-3, relative=args.relative,
                            antisymmetric=args.antisymmetric)  # fmt: skip
    critic.fit(progress_pairs(train_paths, train_goals, rng, 30000, mismatched=args.mismatched),
               steps=args.critic_steps)  # fmt: skip
    o_i, o_j, goal, delta = progress_pairs(test_paths, test_goals, rng, 3000)
    pred = critic.delta(o_i, o_j, goal)
    moving = delta != 0
    critic.save(path)
    return {
        "sign_accuracy": float(np.mean(np.sign(pred[moving]) == np.sign(delta[moving]))),
        "mismatched_abs_delta": float(np.abs(pred[~moving]).mean()),
        "moving_abs_delta": float(np.abs(pred[moving]).mean()),
        "median_voc": float(
            np.median([value_order_correlation(critic.values(p, g)) for p, g in zip(test_paths, test_goals)])
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--critic-steps", type=int, default=2000)
    parser.add_argument("--mismatched", type=float, default=0.5)
    parser.add_argument("--relative", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--antisymmetric", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--arms", nargs="+", default=["sparse", "progress"], choices=["sparse", "progress"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    path = Path(tempfile.mkdtemp(prefix="progress-bench-")) / "critic.pt"
    start = time.perf_counter()
    print(f"critic: {train_critic(args, path)} ({time.perf_counter() - start:.0f} s)", flush=True)
    print("| reward | seed | success rate at each fifth of training | time (s) |")
    print("|---|---|---|---|")
    for arm in args.arms:
        for seed in args.seeds:
            extra = (
                [{"reward": "progress", "path": str(path), "scale": args.scale}] if arm == "progress" else []
            )
            config = PPOConfig(**PPO_SETTINGS, total_steps=args.steps, seed=seed, transition_rewards=extra)
            algo, curve, start = PPO(config), [], time.perf_counter()
            every = config.total_steps // 5
            next_eval = every
            while algo.global_step < config.total_steps:
                algo.step()
                if algo.global_step >= next_eval:
                    curve.append(algo.evaluate(config.eval_episodes).get("success_rate", float("nan")))
                    next_eval += every
            print(f"| {arm} | {seed} | {' / '.join(f'{s:.2f}' for s in curve)} | "
                  f"{time.perf_counter() - start:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
