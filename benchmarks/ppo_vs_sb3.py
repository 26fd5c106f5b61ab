"""PPO on CartPole-v1, rewardlab vs Stable-Baselines3, identical rl-zoo3 hyper-parameters.

Both read examples/ppo_cartpole.toml (8 envs, n_steps 32, batch 256, gae_lambda 0.8, gamma 0.98,
20 epochs, lr 1e-3 and clip 0.2 both annealed linearly, ent 0, [64, 64] tanh actor and critic).
Target: rewardlab eval return >= 475 on each seed and >= 1.5x SB3's steps/second.

    python benchmarks/ppo_vs_sb3.py            # 3 seeds, 100k steps each (about 3 minutes)
"""

from __future__ import annotations

import gymnasium as gym
import torch
from _peer import compare, parse_args, run_peer, run_rewardlab


def make_sb3_ppo(c: dict, seed: int):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def linear(start: float):
        return lambda progress_remaining: start * progress_remaining  # SB3 passes 1 -> 0

    envs = make_vec_env(lambda: gym.make(c["env"]), n_envs=c["num_envs"], seed=seed)
    return PPO(
        "MlpPolicy", envs, n_steps=c["n_steps"], batch_size=c["batch_size"], n_epochs=c["n_epochs"],
        gamma=c["gamma"], gae_lambda=c["gae_lambda"], ent_coef=c["ent_coef"], vf_coef=c["vf_coef"],
        max_grad_norm=c["max_grad_norm"],
        learning_rate=linear(c["learning_rate"]) if c["anneal_lr"] else c["learning_rate"],
        clip_range=linear(c["clip_range"]) if c["anneal_clip_range"] else c["clip_range"],
        policy_kwargs=dict(net_arch=dict(pi=list(c["hidden_sizes"]), vf=list(c["hidden_sizes"])),
                           activation_fn=torch.nn.Tanh),
        seed=seed, device="cpu", verbose=0,
    )  # fmt: skip


if __name__ == "__main__":
    args = parse_args(__doc__)
    compare(
        "PPO CartPole-v1 (rl-zoo3 hyper-parameters)", "SB3", args.seeds,
        lambda s: run_rewardlab("ppo", "ppo_cartpole.toml", s, args.total_steps),
        lambda s: run_peer(make_sb3_ppo, "ppo", "ppo_cartpole.toml", s, args.total_steps),
    )  # fmt: skip
