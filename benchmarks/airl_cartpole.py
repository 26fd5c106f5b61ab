"""AIRL on fixed-horizon CartPole: PPO re-trained from scratch on the frozen recovered reward.

Issue 11's number: "PPO re-trained from scratch on the frozen recovered reward reaches >= 400",
with a control whose demonstrations come from a random policy (it must stay far below). Three
stages per arm, all on ``cartpole-fixed-horizon`` (benchmarks/gail_cartpole.py writes the 60
expert and 60 random demonstration episodes; ``--demos-dir`` reuses them):

1. AIRL + PPO (``ext_coef = 0``: the environment's reward is never used) for ``--steps``; the
   discriminator's ``log pi(a|s)`` is the PPO policy's own (bound through the reward-stream seam);
2. ``AIRL.save_recovered`` writes ``g``, and ``g`` is printed over the pole angle (cart at rest,
   both actions) to show what was recovered;
3. a fresh PPO (seed + 1000, new networks) trained ``--retrain-steps`` on ``airl_recovered`` alone;
   its true return (deterministic policy, 5 episodes) is what the issue measures.

``--ppo gail`` is the GAIL benchmark's PPO (8 envs x 256 steps, 10 epochs, minibatch 256, lr 3e-4
annealed); ``--ppo imitation`` is the PPO of imitation's AIRL CartPole tutorial
(docs/tutorials/4_train_airl.ipynb: 8 envs x 2048 steps, minibatch 64, 5 epochs, lr 5e-4, gamma
0.95, clip 0.1, vf_coef 0.1, no entropy bonus, no annealing). The discriminator's settings are
``--disc-updates`` steps of ``--disc-batch`` expert + ``--disc-batch`` rollout rows per PPO
iteration. ``--state-only`` makes ``g`` a function of the observation alone (the AIRL paper's
disentangled, state-only reward); without it ``g(s, a)`` also sees the action.

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
from gail_cartpole import ENV, PPO_SETTINGS, make_demonstrations, train  # noqa: E402

from rewardlab.envs.fixed_horizon_cartpole import FixedHorizonCartPole  # noqa: E402
from rewardlab.rewards.learned.adversarial import load_demonstrations, save_demonstrations  # noqa: E402
from rewardlab.rl.ppo import PPOConfig  # noqa: E402

PPO_PRESETS = {
    "gail": PPO_SETTINGS,
    # imitation's docs/tutorials/4_train_airl.ipynb (SB3 PPO: no learning-rate annealing)
    "imitation": dict(
        env=ENV,
        num_envs=8,
        n_steps=2048,
        n_epochs=5,
        batch_size=64,
        learning_rate=5e-4,
        gamma=0.95,
        gae_lambda=0.95,
        clip_range=0.1,
        vf_coef=0.1,
        ent_coef=0.0,
        anneal_lr=False,
        eval_episodes=5,
    ),  # fmt: skip
    # imitation's tuned PPO for seals/CartPole-v0 (src/imitation/scripts/config/train_rl.py,
    # ``seals_cartpole``: the settings its CartPole experts are trained with)
    "seals": dict(
        env=ENV,
        num_envs=8,
        n_steps=512,
        n_epochs=10,
        batch_size=256,
        learning_rate=0.0012403278189645594,
        anneal_lr=False,
        gamma=0.9999,
        gae_lambda=0.9,
        clip_range=0.4,
        ent_coef=0.008508727919228772,
        vf_coef=0.489343896591493,
        max_grad_norm=0.8,
        activation="relu",
        hidden_sizes=(64, 64),
        eval_episodes=5,
    ),  # fmt: skip
}


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


ANGLES = (-0.6, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.6)  # CartPole's bounds: |angle| < 0.21


def g_over_angle(airl) -> str:
    """``g`` at the cart's centre at rest, over the pole angle, for actions 0 / 1."""
    obs = np.array([[0.0, 0.0, a, 0.0] for a in ANGLES])
    with torch.no_grad():
        g = [airl.logits(obs, np.full(len(obs), a)).numpy() for a in (0, 1)]
    cells = " ".join(f"{x:+.1f}:{g[0][i]:+.2f}/{g[1][i]:+.2f}" for i, x in enumerate(ANGLES))
    return f"g(angle: a=0/a=1) {cells}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--retrain-steps", type=int, default=300_000)
    parser.add_argument("--expert-steps", type=int, default=300_000)
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--arms", nargs="+", default=["expert", "random"], choices=["expert", "random"])
    parser.add_argument("--state-only", action="store_true")
    parser.add_argument("--ppo", choices=sorted(PPO_PRESETS), default="gail", help="AIRL stage's PPO")
    parser.add_argument("--retrain-ppo", choices=sorted(PPO_PRESETS), default="gail")
    parser.add_argument("--disc-updates", type=int, default=8, help="discriminator steps per PPO iteration")
    parser.add_argument("--disc-batch", type=int, default=1024, help="expert (= rollout) rows per step")
    parser.add_argument("--disc-lr", type=float, default=3e-4)
    parser.add_argument(
        "--obs-norm",
        choices=["reference", "running"],
        default="reference",
        help="the discriminator's input standardisation (AIRL's obs_norm)",
    )
    parser.add_argument(
        "--retrain-clip",
        action="store_true",
        help="re-train on g clipped to its range over the demonstrations (airl_recovered clip)",
    )
    parser.add_argument(
        "--retrain-shaped",
        action="store_true",
        help="re-train on the shaped f = g + discount h(s') - h(s) (airl_recovered shaped)",
    )
    parser.add_argument(
        "--retrain-seeds",
        type=int,
        nargs="+",
        default=[1000],
        help="re-training seeds (added to the AIRL seed)",
    )
    parser.add_argument("--tag", default="", help="appended to the saved g's file name")
    parser.add_argument("--evals", type=int, default=5, help="true-return evaluations per stage")
    parser.add_argument("--demos-dir", help="reuse expert.npz / random.npz written by an earlier run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.demos_dir) if args.demos_dir else Path(tempfile.mkdtemp(prefix="airl-bench-"))
    if not args.demos_dir:
        make_demonstrations(args, out)
    for kind in args.arms:
        add_next_obs(out / f"{kind}.npz")
    print(f"demonstrations in {out}; g {'state-only' if args.state_only else 'state-action'}; {vars(args)}")
    print("| demonstrations | seed | AIRL-PPO true return | re-trained PPO true return | time (s) |")
    print("|---|---|---|---|---|")
    for kind in args.arms:
        for seed in args.seeds:
            airl = {"reward": "airl", "demonstrations": str(out / f"{kind}.npz"), "state_only": args.state_only,
                    "updates_per_iteration": args.disc_updates, "batch_size": args.disc_batch,
                    "learning_rate": args.disc_lr, "obs_norm": args.obs_norm}  # fmt: skip
            config = PPOConfig(**PPO_PRESETS[args.ppo], total_steps=args.steps, seed=seed, ext_coef=0.0,
                               transition_rewards=[airl])  # fmt: skip
            start = time.perf_counter()
            algo, curve, _ = train(config, evals=args.evals)
            reward = algo.streams.rewards[0]
            print(f"[{kind} seed {seed}] {g_over_angle(reward)}", flush=True)
            path = reward.save_recovered(
                out / f"g_{kind}_{seed}{'_s' if args.state_only else ''}{args.tag}.pt"
            )
            recovered = {"reward": "airl_recovered", "path": str(path), "clip": args.retrain_clip,
                         "shaped": args.retrain_shaped}  # fmt: skip
            for re_seed in args.retrain_seeds:
                retrain = PPOConfig(**PPO_PRESETS[args.retrain_ppo], total_steps=args.retrain_steps,
                                    seed=seed + re_seed, ext_coef=0.0, transition_rewards=[recovered])  # fmt: skip
                _, re_curve, _ = train(retrain, evals=args.evals)
                print(
                    f"| {kind} | {seed} (re-train {seed + re_seed}) | {' / '.join(f'{r:.0f}' for r in curve)} | "
                    f"{' / '.join(f'{r:.0f}' for r in re_curve)} | {time.perf_counter() - start:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
