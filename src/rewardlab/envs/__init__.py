"""Gymnasium / PettingZoo environments from the reward-RL literature.

Names only (import paths as strings), so ``rewardlab list`` imports nothing heavy.
"""

ENVS = {
    "uav-offloading": "rewardlab.envs.uav_offloading:UAVOffloadingEnv",
}
