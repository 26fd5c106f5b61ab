"""Multi-armed, linear contextual, dynamical and restless bandits, with their policies.

Names only (import paths as strings), so ``rewardlab list`` imports nothing heavy.
"""

_A = "rewardlab.bandits.algorithms"

ALGORITHMS = {
    "epsilon-greedy": f"{_A}:EpsilonGreedyAlgorithm",
    "ucb1": f"{_A}:UCB1Algorithm",
    "kl-ucb": f"{_A}:KLUCBAlgorithm",
    "thompson": f"{_A}:ThompsonAlgorithm",
    "linucb": f"{_A}:LinUCBAlgorithm",
    "lin-ts": f"{_A}:LinTSAlgorithm",
    "dynlin-ucb": f"{_A}:DynLinUCBAlgorithm",
    "whittle": f"{_A}:WhittleAlgorithm",
    "myopic": f"{_A}:MyopicAlgorithm",
    "sequoia": f"{_A}:SequoiaAlgorithm",
    "softmax": f"{_A}:SoftmaxAlgorithm",
}

ENVS = {
    "bernoulli-bandit": "rewardlab.bandits.envs:BernoulliBandit",
    "gaussian-bandit": "rewardlab.bandits.envs:GaussianBandit",
    "linear-bandit": "rewardlab.bandits.envs:LinearBandit",
    "dynamical-linear-bandit": "rewardlab.bandits.dynamical:DynamicalLinearBandit",
    "restless-bandit": "rewardlab.bandits.restless:RestlessBandit",
}
