"""Tabular TD control on Gymnasium discrete envs, and independent learners for PettingZoo envs.

Names only (import paths as strings), so ``rewardlab list`` imports nothing heavy.
"""

ALGORITHMS = {
    "qlearning": "rewardlab.tabular.td:QLearning",
    "sarsa": "rewardlab.tabular.td:Sarsa",
    "expected-sarsa": "rewardlab.tabular.td:ExpectedSarsa",
    "independent-sarsa": "rewardlab.tabular.independent:IndependentSarsa",
    "independent-qlearning": "rewardlab.tabular.independent:IndependentQLearning",
    "random-agents": "rewardlab.tabular.independent:RandomAgents",
}
