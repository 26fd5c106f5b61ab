"""rewardlab vs MABWiser (2.7.4): UCB1 and LinUCB on identical data streams.

Both libraries play the same online loop (choose -> observe one reward -> update) against the same
environment with the same seed. Rewards come from common random numbers (one uniform / normal per
round whatever arm is played), so the two see identical streams; regret is the exact pseudo-regret
from the environment's oracle.

* UCB1: MABWiser ``LearningPolicy.UCB1(alpha=1)`` = mean + sqrt(2 ln N / n); rewardlab ``UCB1``
  with c = sqrt(2). Both start by playing every arm once.
* LinUCB (disjoint, Li et al. 2010 Alg. 1): MABWiser ``LearningPolicy.LinUCB(alpha=1, l2_lambda=1)``;
  rewardlab ``LinUCB(alpha=1, ridge=1, disjoint=True)`` on ``linear-bandit`` with
  ``linear_model="disjoint"`` (one shared context per round, one theta per arm).

Run:  .venv/bin/python benchmarks/bandits_vs_mabwiser.py [--seeds 5] [--rounds-ucb 5000] [--rounds-lin 2000]
(needs ``pip install mabwiser==2.7.4``; a benchmark-only dependency).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from mabwiser.mab import MAB, LearningPolicy

from rewardlab.bandits.envs import BernoulliBandit, LinearBandit
from rewardlab.bandits.linear import LinUCB
from rewardlab.bandits.stochastic import UCB1

MEANS = [0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4]
K, D = 10, 5


def ucb_rewardlab(seed: int, rounds: int) -> tuple[float, float]:
    env = BernoulliBandit(MEANS, seed=seed)
    policy = UCB1(K, 1, np.random.default_rng(seed))
    regret = 0.0
    start = time.perf_counter()
    for _ in range(rounds):
        arm = policy.select()
        reward, g = env.pull(arm)
        policy.update(arm, reward)
        regret += g[0]
    return regret, rounds / (time.perf_counter() - start)


def ucb_mabwiser(seed: int, rounds: int) -> tuple[float, float]:
    env = BernoulliBandit(MEANS, seed=seed)
    mab = MAB(arms=list(range(K)), learning_policy=LearningPolicy.UCB1(alpha=1.0), seed=seed)
    regret = 0.0
    start = time.perf_counter()
    # MABWiser must be fitted before predicting: the first K rounds play each arm once (as UCB1 does)
    first = []
    for a in range(K):
        reward, g = env.pull(np.array([a]))
        first.append(reward[0])
        regret += g[0]
    mab.fit(list(range(K)), first)
    for _ in range(rounds - K):
        arm = mab.predict()
        reward, g = env.pull(np.array([arm]))
        mab.partial_fit([arm], [reward[0]])
        regret += g[0]
    return regret, rounds / (time.perf_counter() - start)


def lin_rewardlab(seed: int, rounds: int) -> tuple[float, float]:
    env = LinearBandit(K, D, linear_model="disjoint", seed=seed)
    policy = LinUCB(K, D, 1, np.random.default_rng(seed), alpha=1.0, ridge=1.0, disjoint=True)
    regret = 0.0
    start = time.perf_counter()
    for _ in range(rounds):
        x = env.observe()
        arm = policy.select(x)
        reward, g = env.pull(arm)
        policy.update(arm, reward, x)
        regret += g[0]
    return regret, rounds / (time.perf_counter() - start)


def lin_mabwiser(seed: int, rounds: int) -> tuple[float, float]:
    env = LinearBandit(K, D, linear_model="disjoint", seed=seed)
    mab = MAB(arms=list(range(K)), learning_policy=LearningPolicy.LinUCB(alpha=1.0, l2_lambda=1.0), seed=seed)
    regret = 0.0
    start = time.perf_counter()
    # fit on one round per arm (MABWiser needs a fit; rewardlab's LinUCB picks the same way at ties)
    xs, arms, rewards = [], [], []
    for a in range(K):
        x = env.observe()[0, 0]
        reward, g = env.pull(np.array([a]))
        xs.append(x)
        arms.append(a)
        rewards.append(reward[0])
        regret += g[0]
    mab.fit(arms, rewards, np.array(xs))
    for _ in range(rounds - K):
        x = env.observe()[0, 0]
        arm = mab.predict(x[None])
        reward, g = env.pull(np.array([arm]))
        mab.partial_fit([arm], [reward[0]], x[None])
        regret += g[0]
    return regret, rounds / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds-ucb", type=int, default=5000)
    parser.add_argument("--rounds-lin", type=int, default=2000)
    args = parser.parse_args()
    rows = []
    for policy, rounds, pair in [("UCB1 (10-armed Bernoulli)", args.rounds_ucb, (ucb_rewardlab, ucb_mabwiser)),
                                 ("LinUCB disjoint (K=10, d=5)", args.rounds_lin, (lin_rewardlab, lin_mabwiser))]:
        results = {}
        for lib, fn in zip(("rewardlab", "mabwiser 2.7.4"), pair):
            runs = [fn(seed, rounds) for seed in range(args.seeds)]
            regrets = np.array([r for r, _ in runs])
            speeds = np.array([s for _, s in runs])
            results[lib] = (regrets, speeds)
            rows.append((policy, lib, rounds, regrets.mean(), regrets.std(ddof=1) / np.sqrt(len(regrets)),
                         np.median(speeds)))
        speedup = np.median(results["rewardlab"][1]) / np.median(results["mabwiser 2.7.4"][1])
        rows.append((policy, "speed-up", rounds, np.nan, np.nan, speedup))
    print(f"{args.seeds} seeds; regret = cumulative pseudo-regret (mean ± s.e.); rounds/s = median over seeds\n")
    print(f"| {'policy':<28} | {'library':<20} | {'rounds':>6} | {'regret':>16} | {'rounds/s':>10} |")
    print(f"|{'-' * 30}|{'-' * 22}|{'-' * 8}|{'-' * 18}|{'-' * 12}|")
    for policy, lib, rounds, mean, se, speed in rows:
        if lib == "speed-up":
            print(f"| {policy:<28} | {'rewardlab / mabwiser':<20} | {'':>6} | {'':>16} | {speed:>9.1f}x |")
        else:
            print(f"| {policy:<28} | {lib:<20} | {rounds:>6} | {mean:>8.1f} ± {se:<5.1f} | {speed:>10,.0f} |")


if __name__ == "__main__":
    main()
