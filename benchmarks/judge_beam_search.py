"""The yes/no judge's step-level F1 and judge-guided beam search against sampling at equal budget
(issue 11; UI-Genie, arXiv 2505.21496: step F1 79.6 at 7B, and reward-guided beam search).

A rule-generated multi-step toy: the prompt is a start digit ``"s:"``, a trajectory is ``steps``
digits, and a step is right when it is the previous digit plus one (mod 10). A noisy "policy"
proposes a step: the right one with probability ``p_right``, else one of the nine others.

1. The judge (tiny random Llama, :class:`rewardlab.rewards.learned.judge.Judge`) is trained on step
   prefixes ``"s:d1\\n...dt\\n"`` whose earlier steps are right, labelled yes when step t is right;
   the negatives are hard ones (a wrong digit at the step, UI-Genie's wrong action).
2. Step F1 (:func:`step_f1`) on freshly drawn prefixes: balanced (one right, one wrong step) and
   as the policy proposes them (``p_right`` right).
3. Beam search (:func:`rewardlab.rewards.beam_search.beam_search`, beam 2, 5 proposals per beam)
   against best-of-N sampling of whole trajectories with the same number of proposed steps, picked
   by the product of the judge's step scores; success = every step right. The oracle pick (any of
   the N right) is the ceiling of any selector over those samples.

Run:  python benchmarks/judge_beam_search.py [--train-steps 400] [--problems 100]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from rewardlab.rewards.beam_search import beam_search
from rewardlab.rewards.learned.judge import Judge, step_f1, step_prefixes
from rewardlab.rewards.selection import best_of_n
from rewardlab.tasks.digits import propose_successor, successor_step_labels, successor_trajectory


def trajectory_right(start: str, steps: list[str]) -> bool:
    return steps == successor_trajectory(start, len(steps))


def train_judge(train_steps: int, steps: int, seed: int) -> tuple[Judge, dict[str, float]]:
    judge = Judge(seed=seed, learning_rate=3e-3, question="?")
    fit = judge.fit(successor_step_labels(2000, steps, None, np.random.default_rng(seed)), steps=train_steps)
    return judge, fit


def search_against_sampling(
    judge: Judge, problems: int, steps: int, p_right: float, beam_width: int, expansions: int, seed: int
) -> dict[str, float]:
    """Success rates of judge-guided beam search and of best-of-N sampling with as many proposed steps."""
    rng = np.random.default_rng(seed)

    def propose(prompt, done, k):
        prev = done[-1] if done else prompt[0]
        return [propose_successor(prev, p_right, rng) for _ in range(k)]

    def path_score(samples):  # product of the judge's step scores over a whole trajectory's prefixes
        return [
            float(np.prod(judge(step_prefixes(s.prompt, s.completion.split("\n")[:-1])))) for s in samples
        ]

    beam_wins, sample_wins, oracle_wins, budget = 0, 0, 0, 0
    for i in range(problems):
        start = str(i % 10)
        found = beam_search(
            f"{start}:", propose, judge, beam_width=beam_width, expansions=expansions, max_steps=steps
        )
        beam_wins += trajectory_right(start, found.best.steps)
        budget = found.scored  # steps proposed (and scored) by the search
        n = max(1, budget // steps)  # whole trajectories with as many proposed steps
        trajectories = []
        for _ in range(n):
            done: list[str] = []
            for _ in range(steps):
                done.append(propose_successor(done[-1] if done else start, p_right, rng))
            trajectories.append(done)
        pick = best_of_n([[step_prefixes(f"{start}:", t)[-1] for t in trajectories]], path_score, n)
        sample_wins += trajectory_right(start, trajectories[int(pick.index[0])])
        oracle_wins += any(trajectory_right(start, t) for t in trajectories)
    return {
        "budget_steps": budget,
        "n_samples": max(1, budget // steps),
        "beam_success": beam_wins / problems,
        "sampling_best_of_n_success": sample_wins / problems,
        "sampling_oracle_success": oracle_wins / problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-steps", type=int, default=400)
    parser.add_argument("--steps", type=int, default=3, help="steps per trajectory")
    parser.add_argument("--p-right", type=float, default=0.3)
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--beam-width", type=int, default=2)
    parser.add_argument("--expansions", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start_time = time.perf_counter()
    judge, fit = train_judge(args.train_steps, args.steps, args.seed)
    balanced = successor_step_labels(1000, args.steps, None, np.random.default_rng(args.seed + 1))
    natural = successor_step_labels(1000, args.steps, args.p_right, np.random.default_rng(args.seed + 2))
    row = {
        "train_steps": args.train_steps,
        "judge_train": {k: round(v, 3) for k, v in fit.items()},
        "step_f1_balanced": {k: round(v, 3) for k, v in step_f1(judge(balanced[0]), balanced[1]).items()},
        "step_f1_policy": {k: round(v, 3) for k, v in step_f1(judge(natural[0]), natural[1]).items()},
        "problems": args.problems,
        **search_against_sampling(
            judge, args.problems, args.steps, args.p_right, args.beam_width, args.expansions, args.seed + 3
        ),
    }
    row["seconds"] = round(time.perf_counter() - start_time, 1)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
