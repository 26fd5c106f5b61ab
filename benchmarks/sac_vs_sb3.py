"""SAC, TD3 and DDPG on Pendulum-v1, rewardlab vs Stable-Baselines3 2.9, identical RL Zoo settings.

Both read the same example (examples/{sac,td3,ddpg}_pendulum.toml: 20k steps; SAC lr 1e-3 and SB3's
other defaults; TD3/DDPG gamma 0.98, buffer 2e5, learning_starts 1e4, normal noise 0.1, lr 1e-3,
[400, 300] nets). The two libraries alternate seed by seed in one process on one torch thread; the
table gives median steps/s and the deterministic eval return over 20 episodes per seed.
Targets (issue 12): mean return >= -200 with every seed >= -250; >= 1.5x SB3's steps/s.

    python benchmarks/sac_vs_sb3.py                      # SAC, 3 seeds x 20k steps each
    python benchmarks/sac_vs_sb3.py --algo td3 --seeds 0 --total-steps 12000
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
from _peer import compare, run_peer, run_rewardlab


def make_sb3(algo: str):
    def make(c: dict, seed: int):
        import stable_baselines3 as sb3

        common = dict(
            learning_rate=c["learning_rate"], buffer_size=c["buffer_size"], learning_starts=c["learning_starts"],
            batch_size=c["batch_size"], tau=c["tau"], gamma=c["gamma"], train_freq=c["train_freq"],
            gradient_steps=c["gradient_steps"], policy_kwargs=dict(net_arch=list(c["hidden_sizes"])),
            seed=seed, device="cpu", verbose=0,
        )  # fmt: skip
        env = gym.make(c["env"])
        if algo == "sac":
            return sb3.SAC("MlpPolicy", env, ent_coef=c["ent_coef"], target_entropy=c["target_entropy"],
                           target_update_interval=c["target_update_interval"], **common)  # fmt: skip
        from stable_baselines3.common.noise import NormalActionNoise

        dim = int(np.prod(env.action_space.shape))
        noise = (
            NormalActionNoise(np.zeros(dim), c["noise_std"] * np.ones(dim))
            if c["action_noise"] == "normal"
            else None
        )
        if algo == "td3":
            return sb3.TD3("MlpPolicy", env, action_noise=noise, policy_delay=c["policy_delay"],
                           target_policy_noise=c["target_policy_noise"], target_noise_clip=c["target_noise_clip"],
                           **common)  # fmt: skip
        return sb3.DDPG("MlpPolicy", env, action_noise=noise, **common)

    return make


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--algo", choices=["sac", "td3", "ddpg"], default="sac")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--total-steps", type=int, help="override the example's budget (for a quick look)")
    args = p.parse_args()
    algo = args.algo
    example = f"{algo}_pendulum.toml"
    compare(
        f"{algo.upper()} Pendulum-v1 (RL Zoo hyper-parameters)", "SB3", args.seeds,
        lambda s: run_rewardlab(algo, example, s, args.total_steps),
        lambda s: run_peer(make_sb3(algo), algo, example, s, args.total_steps),
    )  # fmt: skip
