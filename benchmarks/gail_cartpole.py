"""GAIL on fixed-horizon CartPole from 60 expert episodes, with a random-demonstration control.

Issue 11's number: >= 475 true return by 300k steps in >= 2 of 3 seeds, while the control with
random-policy demonstrations stays < 100. Settings of the research note's calibration
(docs/learned_rewards.md): an expert PPO (8 envs x 256 steps, 10 epochs, minibatch 256, lr 3e-4,
gamma 0.99, lambda 0.95, no entropy bonus) trained 300k steps on ``cartpole-fixed-horizon``; 60
demonstration episodes sampled from its stochastic policy; GAIL with a 32-32 discriminator, Adam
3e-4, 8 updates of 1024 + 1024 samples per PPO iteration, the same PPO, ``ext_coef = 0`` (the
environment's reward is not used). The true return is the deterministic policy's over 5 episodes.

Run:  .venv/bin/python benchmarks/gail_cartpole.py [--seeds 0 1 2] [--steps 300000] [--expert-steps 300000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rewardlab.rewards.learned.adversarial import collect_demonstrations, save_demonstrations
from rewardlab.rl.ppo import PPO, PPOConfig

ENV = "cartpole-fixed-horizon"
PPO_SETTINGS = dict(env=ENV, num_envs=8, n_steps=256, n_epochs=10, batch_size=256, learning_rate=3e-4,
                    gamma=0.99, gae_lambda=0.95, ent_coef=0.0, eval_episodes=5)  # fmt: skip


def train(config: PPOConfig, evals: int = 7) -> tuple[PPO, list[float], float]:
    algo = PPO(config)
    every = config.total_steps // evals
    curve, next_eval, start = [], every, time.perf_counter()
    while algo.global_step < config.total_steps:
        algo.step()
        if algo.global_step >= next_eval:
            curve.append(algo.evaluate(config.eval_episodes)["mean_return"])
            next_eval += every
    return algo, curve, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--expert-steps", type=int, default=300_000)
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--arms", nargs="+", default=["expert", "random"], choices=["expert", "random"])
    parser.add_argument("--demos-dir", help="reuse expert.npz / random.npz written by an earlier run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.demos_dir) if args.demos_dir else Path(tempfile.mkdtemp(prefix="gail-bench-"))
    if not args.demos_dir:
        make_demonstrations(args, out)
    print(f"demonstrations in {out}")

    print("| demonstrations | seed | true return at each 1/7 of training | time (s) |")
    print("|---|---|---|---|")
    for kind in args.arms:
        for seed in args.seeds:
            gail = {"reward": "gail", "demonstrations": str(out / f"{kind}.npz"), "batch_size": 1024,
                    "updates_per_iteration": 8, "learning_rate": 3e-4}  # fmt: skip
            config = PPOConfig(**PPO_SETTINGS, total_steps=args.steps, seed=seed, ext_coef=0.0,
                               transition_rewards=[gail])  # fmt: skip
            _, curve, seconds = train(config)
            print(
                f"| {kind} | {seed} | {' / '.join(f'{r:.0f}' for r in curve)} | {seconds:.0f} |", flush=True
            )


def make_demonstrations(args: argparse.Namespace, out: Path) -> None:
    """Train the expert PPO, then write 60 episodes of it (stochastic) and of a random policy."""
    expert, curve, seconds = train(PPOConfig(**PPO_SETTINGS, total_steps=args.expert_steps, seed=100))
    print(f"expert: true return {curve[-1]:.0f} after {args.expert_steps} steps ({seconds:.0f} s)")

    def sample(obs: np.ndarray) -> np.ndarray:  # the expert's stochastic policy
        with torch.no_grad():
            return expert._distribution(expert._obs_tensor(obs)).sample().numpy()

    rng = np.random.default_rng(0)
    for kind, act in {"expert": sample, "random": lambda obs: rng.integers(2, size=len(obs))}.items():
        demos = collect_demonstrations(act, ENV, args.episodes, seed=200)
        save_demonstrations(out / f"{kind}.npz", demos["obs"], demos["actions"], next_obs=demos["next_obs"],
                            dones=demos["dones"])  # fmt: skip
        print(
            f"{kind} demonstrations: {args.episodes} episodes, mean true return {demos['returns'].mean():.0f}"
        )


if __name__ == "__main__":
    main()
