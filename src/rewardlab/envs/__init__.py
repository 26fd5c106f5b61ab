"""Gymnasium / PettingZoo environments from the reward-RL literature.

Names only (import paths as strings), so ``rewardlab list`` imports nothing heavy.
"""

ENVS = {
    "uav-offloading": "rewardlab.envs.uav_offloading:UAVOffloadingEnv",
    "sumo-single-intersection": "rewardlab.envs.sumo:TrafficSignalEnv",
    "sumo-grid2x2": "rewardlab.envs.sumo:TrafficGridEnv",
    "sparse-grid": "rewardlab.envs.sparse_grid:SparseGridEnv",
    "cartpole-fixed-horizon": "rewardlab.envs.fixed_horizon_cartpole:FixedHorizonCartPole",
    "tomato": "rewardlab.envs.tomato:TomatoEnv",
    "point-goal": "rewardlab.envs.point_goal:PointGoalEnv",
    # gymnasium-robotics PointMaze with flat [x, y, vx, vy, goal] observations (offline datasets)
    "pointmaze-umaze": "rewardlab.offline.pointmaze:umaze",
    "pointmaze-medium": "rewardlab.offline.pointmaze:medium",
}

#: the single-agent Gymnasium envs among them, registered with Gymnasium under the same name so
#: ``gymnasium.make`` (and so PPO/DQN's vector envs) builds them
GYMNASIUM_ENVS = (
    "sparse-grid",
    "cartpole-fixed-horizon",
    "tomato",
    "sumo-single-intersection",
    "point-goal",
    "pointmaze-umaze",
    "pointmaze-medium",
)


def register_gymnasium() -> None:
    import gymnasium as gym

    for name in GYMNASIUM_ENVS:
        if name not in gym.registry:
            gym.register(name, entry_point=ENVS[name])
