"""DQN on CartPole-v1, rewardlab vs Stable-Baselines3, identical rl-zoo3 hyper-parameters.

Both read examples/dqn_cartpole.toml (lr 2.3e-3, batch 64, buffer 1e5, learning_starts 1000,
target_update_interval 10, train_freq 256, gradient_steps 128, exploration 0.16 -> 0.04,
[256, 256] ReLU Q-network, Huber loss, grad-norm 10). Target: eval return >= SB3's and speed >= 1.5x.

    python benchmarks/dqn_vs_sb3.py            # 3 seeds, 50k steps each (about 5 minutes)
"""

from __future__ import annotations

import gymnasium as gym
from _peer import compare, parse_args, run_peer, run_rewardlab


def make_sb3_dqn(c: dict, seed: int):
    from stable_baselines3 import DQN

    return DQN(
        "MlpPolicy", gym.make(c["env"]), learning_rate=c["learning_rate"], buffer_size=c["buffer_size"],
        learning_starts=c["learning_starts"], batch_size=c["batch_size"], tau=c["tau"], gamma=c["gamma"],
        train_freq=c["train_freq"], gradient_steps=c["gradient_steps"],
        target_update_interval=c["target_update_interval"], exploration_fraction=c["exploration_fraction"],
        exploration_initial_eps=c["exploration_initial_eps"], exploration_final_eps=c["exploration_final_eps"],
        max_grad_norm=c["max_grad_norm"], policy_kwargs=dict(net_arch=list(c["hidden_sizes"])),
        seed=seed, device="cpu", verbose=0,
    )  # fmt: skip


if __name__ == "__main__":
    args = parse_args(__doc__)
    compare(
        "DQN CartPole-v1 (rl-zoo3 hyper-parameters)", "SB3", args.seeds,
        lambda s: run_rewardlab("dqn", "dqn_cartpole.toml", s, args.total_steps),
        lambda s: run_peer(make_sb3_dqn, "dqn", "dqn_cartpole.toml", s, args.total_steps),
    )  # fmt: skip
