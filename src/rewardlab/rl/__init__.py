"""Classic deep RL on Gymnasium environments: one readable file per algorithm."""

ALGORITHMS = {
    "ppo": "rewardlab.rl.ppo:PPO",
    "dqn": "rewardlab.rl.dqn:DQN",
}
