"""Gymnasium / PettingZoo environments from the reward-RL literature.

Names only (import paths as strings), so ``rewardlab list`` imports nothing heavy.
"""

ENVS = {
    "uav-offloading": "rewardlab.envs.uav_offloading:UAVOffloadingEnv",
    "sumo-single-intersection": "rewardlab.envs.sumo:TrafficSignalEnv",
    "sumo-grid2x2": "rewardlab.envs.sumo:TrafficGridEnv",
}
