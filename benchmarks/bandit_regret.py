"""The bandit claims of issue 5, as numbers: regret tables for every policy family.

1. 10-armed Bernoulli (means 0.9 .. 0.4): epsilon-greedy, UCB1, KL-UCB, Thompson; regret at 10k
   and 100k rounds and their ratio (log growth gives a ratio near ln(1e5)/ln(1e4) = 1.25).
2. Linear contextual (K = 10, d = 5): epsilon-greedy, LinUCB, linear TS; dense and misspecified.
3. Dynamical linear bandit, the DLB repository's 3-D instance (myopic-best != steady-state-best):
   DynLin-UCB vs LinUCB (the repo's LinUCBAgent width), both at the theory width and scaled by 0.1.
4. Restless two-type instance (N = 10, budget 3): Whittle vs myopic vs random vs SEQUOIA (trained
   DQN), plus the cost of SEQUOIA's MILP argmax against enumeration on the trained network.

Run:  .venv/bin/python benchmarks/bandit_regret.py [--seeds 10]   (about 3-4 minutes on 1 core)
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from rewardlab.bandits.base import simulate
from rewardlab.bandits.dynamical import DynamicalLinearBandit, DynLinUCB
from rewardlab.bandits.envs import BernoulliBandit, LinearBandit
from rewardlab.bandits.linear import LinearThompson, LinUCB
from rewardlab.bandits.restless import (
    Myopic,
    RestlessBandit,
    WhittleIndex,
    optimal_average_reward,
    top_k_mask,
    two_type_instance,
)
from rewardlab.bandits.stochastic import KLUCB, UCB1, BetaThompson, EpsilonGreedy

MEANS = [0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4]


def fmt(x: np.ndarray) -> str:
    return f"{x.mean():9.1f} ± {x.std(ddof=1) / math.sqrt(len(x)):<6.1f}"


def bernoulli(seeds: int) -> None:
    print("## 1. 10-armed Bernoulli, cumulative regret (mean ± s.e. over seeds)\n")
    print(f"| {'policy':<22} | {'T = 10k':>18} | {'T = 100k':>18} | {'ratio':>5} | {'s':>5} |")
    print(f"|{'-' * 24}|{'-' * 20}|{'-' * 20}|{'-' * 7}|{'-' * 7}|")
    for name, cls, kw in [("epsilon-greedy (0.1)", EpsilonGreedy, {"epsilon": 0.1}), ("UCB1", UCB1, {}),
                          ("KL-UCB", KLUCB, {}), ("Thompson (Beta)", BetaThompson, {})]:
        env = BernoulliBandit(MEANS, n_runs=seeds, seed=123)
        start = time.perf_counter()
        _, regret = simulate(env, cls(len(MEANS), seeds, np.random.default_rng(7), **kw), 100_000)
        cum = regret.cumsum(axis=1)
        ratio = cum[:, -1].mean() / cum[:, 9_999].mean()
        print(f"| {name:<22} | {fmt(cum[:, 9_999])} | {fmt(cum[:, -1])} | {ratio:5.2f} | "
              f"{time.perf_counter() - start:5.1f} |")


def linear(seeds: int) -> None:
    print("\n## 2. Linear contextual bandit (K = 10, d = 5, noise 0.1), regret after 5000 rounds\n")
    print(f"| {'policy':<22} | {'dense theta':>18} | {'misspecified eps=0.05':>21} |")
    print(f"|{'-' * 24}|{'-' * 20}|{'-' * 23}|")
    for name, make in [("epsilon-greedy (0.1)", lambda r: EpsilonGreedy(10, seeds, r, epsilon=0.1)),
                       ("LinUCB (alpha 1)", lambda r: LinUCB(10, 5, seeds, r, alpha=1.0)),
                       ("linear TS (v 0.1)", lambda r: LinearThompson(10, 5, seeds, r, v=0.1))]:
        cells = []
        for eps in (0.0, 0.05):
            env = LinearBandit(10, 5, misspecification=eps, n_runs=seeds, seed=0)
            _, regret = simulate(env, make(np.random.default_rng(1)), 5000)
            cells.append(fmt(regret.sum(axis=1)))
        print(f"| {name:<22} | {cells[0]} | {cells[1]:>21} |")


def dynamical(seeds: int, rounds: int = 50_000) -> None:
    print(f"\n## 3. Dynamical linear bandit (DLB repo 3-D instance), regret after {rounds:,} rounds\n")
    env = DynamicalLinearBandit(n_runs=seeds, seed=1)
    k = env.constants()
    print(f"steady-state values {np.round(env.steady_values, 3).tolist()}; best arm {env.best_arm}, "
          f"myopic-best arm {env.myopic_arm}\n")
    d, lam = env.dim, 1.0
    lin_width = k.theta * math.sqrt(lam) + math.sqrt(2 * math.log(rounds) + d * math.log(
        (d * lam + rounds * 1.5**2) / (d * lam)))
    print(f"| {'policy':<36} | {'regret':>18} | {'greedy = best':>13} |")
    print(f"|{'-' * 38}|{'-' * 20}|{'-' * 15}|")
    for scale in (1.0, 0.1):
        for name, make in [
            (f"DynLin-UCB (beta x {scale})",
             lambda r, s=scale: DynLinUCB(env.actions, k, rounds, seeds, r, beta_scale=s)),
            (f"LinUCB (repo width x {scale})",
             lambda r, s=scale: LinUCB(env.n_arms, d, seeds, r, alpha=s * lin_width))]:
            e = DynamicalLinearBandit(n_runs=seeds, seed=1)
            policy = make(np.random.default_rng(0))
            _, regret = simulate(e, policy, rounds)
            greedy = policy.greedy(e.observe()) if isinstance(policy, LinUCB) else policy.greedy()
            print(f"| {name:<36} | {fmt(regret.sum(axis=1))} | {np.mean(greedy == env.best_arm):>12.0%} |")
    e = DynamicalLinearBandit(n_runs=seeds, seed=1)
    _, regret = simulate(e, UCB1(e.n_arms, seeds, np.random.default_rng(0)), rounds)
    print(f"| {'UCB1 (arms as K-armed)':<36} | {fmt(regret.sum(axis=1))} | {'':>13} |")


class RandomRestless:
    def __init__(self, budget, rng):
        self.budget, self.rng = budget, rng

    def select(self, states):
        return top_k_mask(self.rng.random(states.shape), self.budget, self.rng)

    def update(self, *args):
        pass


def restless(seeds: int, rounds: int = 5000, sequoia_steps: int = 3000) -> None:
    from rewardlab.bandits.sequoia import Sequoia, feasible_actions, milp_argmax, q_values_numpy

    print(f"\n## 4. Restless two-type instance (N = 10, budget 3), mean reward per round over {rounds} rounds\n")
    p, r = two_type_instance(10)
    print(f"| {'policy':<40} | {'reward / round':>18} |")
    print(f"|{'-' * 42}|{'-' * 20}|")
    for name, make in [("Whittle index (gamma 0.99)", lambda env, g: WhittleIndex(env, g)),
                       ("myopic", lambda env, g: Myopic(env, g)),
                       ("random", lambda env, g: RandomRestless(3, g))]:
        env = RestlessBandit(p, r, 3, n_runs=seeds, seed=0)
        rewards, _ = simulate(env, make(env, np.random.default_rng(1)), rounds)
        x = rewards.mean(axis=1)
        print(f"| {name:<40} | {x.mean():9.3f} ± {x.std(ddof=1) / math.sqrt(seeds):<6.3f} |")
    solve = []
    n_seq = min(seeds, 3)
    variants = [("paper defaults", {}),
                ("gamma 0.5, lr 1e-3, no lr decay", {"gamma": 0.5, "lr": 1e-3, "lr_decay": 1.0})]
    for label, kw in variants:
        scores = []
        for seed in range(n_seq):
            env = RestlessBandit(p, r, 3, seed=seed)
            agent = Sequoia(env, np.random.default_rng(seed), action_solver="enumerate", **kw)
            simulate(env, agent, sequoia_steps)  # training (epsilon-greedy)
            env = RestlessBandit(p, r, 3, seed=100 + seed)
            total = 0.0
            for _ in range(rounds // 5):
                s = env.observe()
                reward, _ = env.pull(agent.greedy(s))
                total += reward[0]
            scores.append(total / (rounds // 5))
            layers = agent.q.numpy_layers()
            for _ in range(3):  # MILP vs enumeration on the trained network
                s = np.random.default_rng(seed).integers(2, size=10).astype(float)
                start = time.perf_counter()
                _, q_milp = milp_argmax(layers, s, 10, 3)
                solve.append((time.perf_counter() - start,
                              abs(q_milp - q_values_numpy(layers, feasible_actions(10, 3), s).max()) < 1e-9))
        x = np.array(scores)
        print(f"| {f'SEQUOIA, {label}':<40} | {x.mean():9.3f} ± {x.std(ddof=1) / math.sqrt(len(x)):<6.3f} |")
    print(f"\nSEQUOIA: {sequoia_steps} DQN steps after the myopic warm start, {n_seq} seeds, greedy over "
          f"{rounds // 5} rounds")
    print("\nAgainst the exact oracle (relative value iteration on the joint MDP), two-type instances:\n")
    print(f"| {'arms, budget':<12} | {'optimal':>8} | {'Whittle':>8} | {'myopic':>8} |")
    print(f"|{'-' * 14}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for n, k in [(4, 1), (6, 2), (8, 3)]:
        pn, rn = two_type_instance(n)
        cells = []
        for cls in (WhittleIndex, Myopic):
            env = RestlessBandit(pn, rn, k, n_runs=seeds, seed=0)
            rewards, _ = simulate(env, cls(env, np.random.default_rng(0)), rounds)
            cells.append(rewards[:, rounds // 10:].mean())
        print(f"| {f'{n}, {k}':<12} | {optimal_average_reward(pn, rn, k):8.3f} | {cells[0]:8.3f} | {cells[1]:8.3f} |")
    times = np.array([t for t, _ in solve])
    print(f"\nSEQUOIA MILP argmax on the trained [16, 32] network (HiGHS via scipy.optimize.milp): "
          f"median {np.median(times) * 1000:.0f} ms per solve, equal to enumeration in "
          f"{sum(ok for _, ok in solve)}/{len(solve)} states")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", choices=["bernoulli", "linear", "dynamical", "restless"], default=None)
    args = parser.parse_args()
    for name, fn in [("bernoulli", bernoulli), ("linear", linear), ("dynamical", dynamical),
                     ("restless", restless)]:
        if args.only in (None, name):
            fn(args.seeds)


if __name__ == "__main__":
    main()
