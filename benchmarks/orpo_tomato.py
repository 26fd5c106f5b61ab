"""ORPO on the tomato gridworld (Correlated Proxies, Laidlaw et al. 2024): true vs proxy return over
the occupancy-measure regularisation coefficient, with the plot the paper draws.

Recipe of the research note (docs/learned_rewards.md, E7): a *base* policy is PPO on the true
reward with ``randomness_eps = 0.1`` (the paper's README); its transitions are the discriminator's
negative sample. Then PPO from random init on the *proxy* reward (the bucket pays 0.52 per step,
real watering at most 0.18), once plainly (coefficient 0: it learns to sit on the bucket) and
with ORPO's sqrt-chi-squared penalty at coefficients ``c x 0.05`` (0.05 = the base policy's
reward std on tomato, the README's scale). Every policy is scored greedily on both rewards;
writes a JSON table and ``orpo_tomato.png`` (true and proxy return against the coefficient).

Run:  .venv/bin/python benchmarks/orpo_tomato.py [--steps 100000] [--coefs 0 0.05 0.1 0.2 0.5 1] [--out DIR]
      (then more coefficients on the same base policy: --reuse-base --coefs 2 5 --out DIR)
      .venv/bin/python benchmarks/orpo_tomato.py --trace 60000   (does the proxy arm find the bucket?)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from rewardlab.envs import register_gymnasium
from rewardlab.envs.tomato import TomatoEnv
from rewardlab.rewards.learned.adversarial import collect_demonstrations, save_demonstrations
from rewardlab.rl.ppo import PPO, PPOConfig

BASE_STD = 0.05  # the README's base-policy reward std for tomato, the unit of the coefficient grid
# The paper's PPO (cassidylaidlaw/orpo, experiments/tomato_experiments.py): 30 workers x 100 steps
# per batch, 8 epochs of minibatch 128, lr 1e-3 constant, clip 0.05, vf_loss_coeff 1e-2, grad clip
# 0.1, gamma 0.99, lambda 0.98, entropy 0.01. Not kept: its 4 x 512 networks (128-128 here, for
# CPU) and RLlib's adaptive KL penalty (kl_coeff 0.2, target 0.001). The small clip matters: with
# clip 0.2, 8 x 128 steps and 4 epochs, the proxy policy settled on the tomatoes next to the start
# within 15k steps and never reached the bucket again (no episode touched it after that), so there
# was no hacking to regularise; with these settings 96 % of the episodes reach it by 60k steps.
PPO_SETTINGS = dict(env="tomato", num_envs=30, n_steps=100, batch_size=128, n_epochs=8, learning_rate=1e-3,
                    anneal_lr=False, clip_range=0.05, vf_coef=0.01, max_grad_norm=0.1, gamma=0.99,
                    gae_lambda=0.98, ent_coef=0.01, eval_episodes=1, hidden_sizes=(128, 128))  # fmt: skip


class BucketTrace(TomatoEnv):
    """TomatoEnv counting, across all its instances, episodes that touched the bucket (``--trace``)."""

    episodes = touched = 0

    def reset(self, **kwargs):
        if getattr(self, "_touched", None) is not None:
            BucketTrace.episodes += 1
            BucketTrace.touched += self._touched
        self._touched = False
        return super().reset(**kwargs)

    def step(self, action):
        out = super().step(action)
        self._touched |= self.pos == self.bucket
        return out


def trace(steps: int, seed: int) -> None:
    """The unregularised proxy arm alone: the share of its training episodes that reach the bucket."""
    gym.register("tomato-bucket-trace", entry_point=BucketTrace)
    cfg = PPOConfig(**{**PPO_SETTINGS, "env": "tomato-bucket-trace"}, total_steps=steps, seed=seed,
                    env_kwargs={"reward": "proxy"})  # fmt: skip
    algo, every = PPO(cfg), steps // 4
    next_report = every
    while algo.global_step < steps:
        algo.step()
        if algo.global_step >= next_report:
            share = BucketTrace.touched / max(BucketTrace.episodes, 1)
            print(f"steps {algo.global_step}: episodes touching the bucket {share:.2f}", flush=True)
            BucketTrace.episodes = BucketTrace.touched = 0
            next_report += every


def train(config: PPOConfig) -> PPO:
    algo = PPO(config)
    while algo.global_step < config.total_steps:
        algo.step()
    return algo


def returns(algo: PPO, episodes: int = 5, eps: float = 0.0) -> dict[str, float]:
    """Greedy episodes on the tomato env; true and proxy returns from ``info``, and the fraction
    of steps spent on the bucket (proxy > true at that step)."""
    true, proxy, bucket, steps = [], [], 0, 0
    for i in range(episodes):
        env = gym.make("tomato", reward="proxy", randomness_eps=eps)
        obs, _ = env.reset(seed=1000 + i)
        t_sum = p_sum = 0.0
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(int(algo.predict(obs[None])[0]))
            t_sum += info["true_reward"]
            p_sum += info["proxy_reward"]
            bucket += info["proxy_reward"] > info["true_reward"]
            steps += 1
            done = terminated or truncated
        true.append(t_sum)
        proxy.append(p_sum)
    return {"true": float(np.mean(true)), "proxy": float(np.mean(proxy)), "bucket_fraction": bucket / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--base-steps", type=int, default=100_000)
    parser.add_argument("--coefs", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.5, 1.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="orpo-tomato")
    parser.add_argument(
        "--reuse-base", action="store_true", help="take the base policy from --out (an earlier run)"
    )
    parser.add_argument("--trace", type=int, metavar="STEPS", help="only trace the proxy arm's bucket visits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    register_gymnasium()
    if args.trace:
        return trace(args.trace, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base_path = out / "base_transitions.npz"
    rows = json.loads((out / "orpo_tomato.json").read_text()) if args.reuse_base else []
    if not args.reuse_base:
        rows = [make_base(args, base_path)]
    rows = rows[:1] + [r for r in rows[1:] if r["coef"] not in args.coefs]  # a re-run coefficient replaces
    run_arms(args, base_path, rows)
    report(rows, out)


def make_base(args: argparse.Namespace, base_path: Path) -> dict:
    """PPO on the true reward with randomness_eps 0.1; writes 50 of its episodes as ORPO's negatives."""
    start = time.perf_counter()
    base_cfg = PPOConfig(**PPO_SETTINGS, total_steps=args.base_steps, seed=args.seed,
                         env_kwargs={"reward": "true", "randomness_eps": 0.1})  # fmt: skip
    base = train(base_cfg)
    row = {"arm": "base (true reward)", "coef": None, **returns(base), "seconds": time.perf_counter() - start}
    print(row, flush=True)
    demos = collect_demonstrations(
        lambda o: base.predict(o),
        "tomato",
        50,
        seed=500,
        env_kwargs={"reward": "true", "randomness_eps": 0.1},
    )
    save_demonstrations(base_path, demos["obs"], demos["actions"])
    return row


def run_arms(args: argparse.Namespace, base_path: Path, rows: list[dict]) -> None:
    for c in args.coefs:
        start = time.perf_counter()
        rewards = [] if c == 0 else [{"reward": "orpo", "base_transitions": str(base_path), "coef": c * BASE_STD,
                                      "divergence": "sqrt_chi2"}]  # fmt: skip
        cfg = PPOConfig(**PPO_SETTINGS, total_steps=args.steps, seed=args.seed, env_kwargs={"reward": "proxy"},
                        transition_rewards=rewards)  # fmt: skip
        algo = train(cfg)
        rows.append({"arm": "proxy" if c == 0 else "proxy + ORPO sqrt_chi2", "coef": c, **returns(algo),
                     "seconds": time.perf_counter() - start})  # fmt: skip
        print(rows[-1], flush=True)
        (Path(args.out) / "orpo_tomato.json").write_text(
            json.dumps(rows, indent=1)
        )  # kept if a later arm dies


def report(rows: list[dict], out: Path) -> None:
    rows[1:] = sorted(rows[1:], key=lambda r: r["coef"])
    (out / "orpo_tomato.json").write_text(json.dumps(rows, indent=1))
    plot(rows, out / "orpo_tomato.png")
    print("| arm | coefficient (x 0.05) | true return | proxy return | bucket fraction |")
    print("|---|---|---|---|---|")
    for r in rows:
        coef = "-" if r["coef"] is None else f"{r['coef']:g}"
        print(f"| {r['arm']} | {coef} | {r['true']:.2f} | {r['proxy']:.2f} | {r['bucket_fraction']:.2f} |")
    print(f"wrote {out / 'orpo_tomato.json'} and {out / 'orpo_tomato.png'}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = rows[0]
    arms = [r for r in rows[1:]]
    x = np.arange(len(arms))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x, [r["true"] for r in arms], "o-", label="true return")
    ax.plot(x, [r["proxy"] for r in arms], "s--", label="proxy return")
    ax.axhline(base["true"], color="gray", linestyle=":", label="base policy, true return")
    ax.set_xticks(x, [f"{r['coef']:g}" for r in arms])
    ax.set_xlabel("sqrt-chi2 occupancy coefficient (x 0.05; 0 = unregularised)")
    ax.set_ylabel("return (100 steps)")
    ax.set_title("ORPO on tomato: proxy vs true return")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
