"""A reward model inside GRPO, watched by the reward-hacking monitor (issue 11, E3 of docs/learned_rewards.md).

The copy-digit toy (prompt "d=", the right answer is the digit d; one completion token, a random
tiny Llama). Arm A: a Bradley-Terry reward model trained on every (right, wrong) answer pair (440
draws, 12 epochs) drives GRPO from scratch, with the rule reward as ``true_reward``. Arm B: from
arm A's final policy, a weak reward model (50 pairs, 4 epochs) takes over. Both are given to GRPO
by path. Prints, per seed: steps until arm A's true accuracy (mean of the last 5 steps) passes
0.85, the monitor's warnings in arm A, arm B's first warning step with the true accuracy up to it,
and arm B's true accuracy over its last 10 of 50 steps. ``tests/llm/test_grpo_reward_model.py``
asserts the same on seed 0.

Run:  .venv/bin/python benchmarks/grpo_reward_model_hacking.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "llm"))  # the copy-digit task and tiny policy of the LM tests

from conftest import CopyDigit, tiny_policy  # noqa: E402
from test_grpo_reward_model import TOY, copy_pairs, reward_model  # noqa: E402

from rewardlab.llm.grpo import GRPO, GRPOConfig  # noqa: E402


def run(seed: int, root: Path) -> dict:
    good = reward_model(root / f"good{seed}", "rm_good", copy_pairs(440, 1 + seed), epochs=12)
    weak = reward_model(root / f"weak{seed}", "rm_weak", copy_pairs(50, 1 + seed), epochs=4)
    true_reward = f"{ROOT / 'tests/llm/test_grpo_reward_model.py'}:copy_rule"
    cfg = GRPOConfig(**{**TOY, "seed": seed}, reward=str(good), true_reward=true_reward)
    algo = GRPO(cfg, policy=tiny_policy(cfg, seed=seed), task=CopyDigit(seed=seed))
    true, warnings_a = [], 0
    while len(true) < 150 and not (len(true) > 10 and np.mean(true[-5:]) > 0.85):
        true.append(algo.step()["true_reward"])
        warnings_a += len(algo.pop_warnings())
    cfg_b = GRPOConfig(**{**TOY, "seed": seed}, reward=str(weak), true_reward=true_reward)
    hacked = GRPO(cfg_b, policy=algo.policy, task=CopyDigit(seed=seed))
    true_b, first = [], None
    for step in range(50):
        true_b.append(hacked.step()["true_reward"])
        if hacked.pop_warnings() and first is None:
            first = step
    return {
        "seed": seed, "steps_a": len(true), "true_a_first3": float(np.mean(true[:3])),
        "true_a_last5": float(np.mean(true[-5:])), "warnings_a": warnings_a, "first_warning_b": first,
        "true_b_until_warning": float(np.mean(true_b[: (first or 0) + 1])), "true_b_last10": float(np.mean(true_b[-10:])),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="grpo-rm-"))
    print(
        "| seed | A: steps | A: true first 3 -> last 5 | A: warnings | B: first warning | B: true until it | B: true last 10 |"
    )
    print("|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = run(seed, root)
        print(f"| {r['seed']} | {r['steps_a']} | {r['true_a_first3']:.2f} -> {r['true_a_last5']:.2f} | {r['warnings_a']} | "
              f"{r['first_warning_b']} | {r['true_b_until_warning']:.2f} | {r['true_b_last10']:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
