"""AIRL on fixed-horizon CartPole: PPO re-trained from scratch on the frozen recovered reward.

Issue 11's number: "PPO re-trained from scratch on the frozen recovered reward reaches >= 400",
with a control whose demonstrations come from a random policy (it must stay far below). Three
stages per arm, all on ``cartpole-fixed-horizon`` with the GAIL benchmark's PPO settings
(benchmarks/gail_cartpole.py, which also writes the 60 expert and 60 random demonstration
episodes):

1. AIRL + PPO (``ext_coef = 0``: the environment's reward is never used) for ``--steps``;
2. ``AIRL.save_recovered`` writes ``g``;
3. a fresh PPO (another seed, new networks) trained ``--retrain-steps`` on ``airl_recovered`` alone;
   its true return (deterministic policy, 5 episodes) is what the issue measures.

``--state-only`` makes ``g`` a function of the observation alone (the AIRL paper's disentangled,
state-only reward); without it ``g(s, a)`` also sees the action.

Run:  .venv/bin/python benchmarks/airl_cartpole.py [--seeds 0] [--arms expert random] [--state-only]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gail_cartpole import PPO_SETTINGS, make_demonstrations, train  # noqa: E402

from rewardlab.envs.fixed_horizon_cartpole import FixedHorizonCartPole  # noqa: E402
from rewardlab.rewards.learned.adversarial import load_demonstrations, save_demonstrations  # noqa: E402
from rewardlab.rl.ppo import PPOConfig  # noqa: E402


def add_next_obs(path: Path) -> None:
    """Give an (obs, actions) file of the GAIL benchmark the ``next_obs`` and ``dones`` AIRL needs:
    CartPole's observation is its whole state and its dynamics are deterministic, so each row's
    next observation is one step of the env from that state (a row-by-row replay)."""
    data = load_demonstrations(path)
    if "next_obs" in data:
        return
    env = FixedHorizonCartPole()
    env.reset(seed=0)
    next_obs = np.empty_like(data["obs"])
    for i, (obs, action) in enumerate(zip(data["obs"], data["actions"])):
        env.state, env.t = np.array(obs, dtype=np.float64), 0
        next_obs[i] = env.step(int(action))[0]
    save_demonstrations(path, data["obs"], data["actions"], next_obs=next_obs,
                        dones=np.zeros(len(next_obs), dtype=bool))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--retrain-steps", type=int, default=300_000)
    parser.add_argument("--expert-steps", type=int, default=300_000)
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--arms", nargs="+", default=["expert", "random"], choices=["expert", "random"])
    parser.add_argument("--state-only", action="store_true")
    parser.add_argument("--demos-dir", help="reuse expert.npz / random.npz written by an earlier run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.demos_dir) if args.demos_dir else Path(tempfile.mkdtemp(prefix="airl-bench-"))
    if not args.demos_dir:
        make_demonstrations(args, out)
    for kind in args.arms:
        add_next_obs(out / f"{kind}.npz")
    print(f"demonstrations in {out}; g {'state-only' if args.state_only else 'state-action'}")
    print("| demonstrations | seed | AIRL-PPO true return | re-trained PPO true return | time (s) |")
    print("|---|---|---|---|---|")
    for kind in args.arms:
        for seed in args.seeds:
            airl = {
                "reward": "airl",
                "demonstrations": str(out / f"{kind}.npz"),
                "state_only": args.state_only,
            }
            config = PPOConfig(**PPO_SETTINGS, total_steps=args.steps, seed=seed, ext_coef=0.0,
                               transition_rewards=[airl])  # fmt: skip
            start = time.perf_counter()
            algo, curve, _ = train(config, evals=5)
            path = algo.streams.rewards[0].save_recovered(out / f"g_{kind}_{seed}.pt")
            recovered = {"reward": "airl_recovered", "path": str(path)}
            retrain = PPOConfig(**PPO_SETTINGS, total_steps=args.retrain_steps, seed=seed + 1000, ext_coef=0.0,
                                transition_rewards=[recovered])  # fmt: skip
            _, re_curve, _ = train(retrain, evals=5)
            print(
                f"| {kind} | {seed} | {' / '.join(f'{r:.0f}' for r in curve)} | "
                f"{' / '.join(f'{r:.0f}' for r in re_curve)} | {time.perf_counter() - start:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
