"""Classic deep RL on Gymnasium environments: one readable file per algorithm."""

ALGORITHMS = {
    "ppo": "rewardlab.rl.ppo:PPO",
    "dqn": "rewardlab.rl.dqn:DQN",
    "sac": "rewardlab.rl.sac:SAC",
    "td3": "rewardlab.rl.td3:TD3",
    "ddpg": "rewardlab.rl.td3:DDPG",
}
