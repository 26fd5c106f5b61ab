"""A reward model inside GRPO, watched by the reward-hacking monitor (issue 11, E3 of docs/learned_rewards.md).

Arm A: a Bradley-Terry reward model over the tiny random Llama, trained on (right, wrong) answer
pairs of the task, drives GRPO from scratch with the task's rule reward as ``true_reward``. Arm B:
from arm A's final policy, a weak reward model (50 pairs, 4 epochs) takes over. Both are given to
GRPO by path. Two tasks (``--task``):

* ``copy_digit``: prompt "d=", the right answer is d (one token); the good reward model sees 440
  draws of every (right, wrong) pair for 12 epochs; arm A stops when the true accuracy passes 0.85.
* ``arithmetic``: the registered task, 1-digit addition over 20 training problems with the prompt
  "a+b=" (answers of one or two tokens, the rule reward ``math_equiv``); the good reward model
  sees every wrong completion of every problem once for 8 epochs; arm A stops at 0.3 (GRPO with the
  rule reward itself levels off near 0.5 here, each prompt collapsed onto one answer, and a
  collapsed policy no longer moves under any reward). Arm B runs at lr 5e-4 on all 20 problems a
  step (``ARITHMETIC_B``; ``--same-b``: arm A's lr 2e-3 and 8 prompts). Task, policy and reward
  models take the seed.

Prints, per seed: steps until arm A's true accuracy (mean of the last 5 steps) passes the stop,
the monitor's warnings in arm A (low correlation / divergence) and its last correlation, arm B's
first warning step with the true accuracy up to it, and arm B's true accuracy over its last 10 of
50 steps. ``tests/llm/test_grpo_reward_model.py`` asserts the same on seed 0.

Run:  .venv/bin/python benchmarks/grpo_reward_model_hacking.py [--task arithmetic] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "llm"))  # the toy tasks, tiny policy and arms of the LM tests

from conftest import DIGITS, CopyDigit  # noqa: E402
from test_grpo_reward_model import (  # noqa: E402
    ARITHMETIC,
    ARITHMETIC_B,
    ARITHMETIC_CHARS,
    ARITHMETIC_GRPO,
    COPY_RULE,
    TOY,
    arithmetic_reward_models,
    copy_pairs,
    hacking_arms,
    reward_model,
)

from rewardlab.tasks.arithmetic import Arithmetic  # noqa: E402


def run(task: str, seed: int, root: Path, lr_b_fast: bool = False) -> dict:
    if task == "copy_digit":
        good = reward_model(root / f"good{seed}", "rm_good", copy_pairs(440, 1 + seed), epochs=12)
        weak = reward_model(root / f"weak{seed}", "rm_weak", copy_pairs(50, 1 + seed), epochs=4)
        (root / "rules.py").write_text(COPY_RULE)  # the true reward, by path (the test does the same)
        settings = {**TOY, "true_reward": f"{root / 'rules.py'}:copy_rule"}
        make_task, chars, stop, cap = (lambda: CopyDigit(seed=seed)), DIGITS + "=", 0.85, 150
        settings_b = None
    else:
        good, weak = arithmetic_reward_models(root, seed)
        settings, chars, stop, cap = ARITHMETIC_GRPO, ARITHMETIC_CHARS, 0.3, 200
        settings_b = {} if lr_b_fast else ARITHMETIC_B
        make_task = lambda: Arithmetic(seed=seed, **ARITHMETIC)  # noqa: E731
    arms = hacking_arms(
        make_task, settings, good, weak, chars=chars, seed=seed, stop=stop, cap=cap, settings_b=settings_b
    )
    true, true_b, first = arms["true_a"], arms["true_b"], arms["first_warning_b"]
    return {
        "seed": seed, "steps_a": len(true), "true_a_first3": float(np.mean(true[:3])),
        "true_a_last5": float(np.mean(true[-5:])), "warnings_a": sum("(low_correlation)" in w for w in arms["warnings_a"]),
        "divergence_a": sum("(divergence)" in w for w in arms["warnings_a"]),
        "corr_a": arms["metrics_a"].get("hacking/correlation", float("nan")), "first_warning_b": first,
        "true_b_until_warning": float(np.mean(true_b[: (first or 0) + 1])), "true_b_last10": float(np.mean(true_b[-10:])),
    }  # fmt: skip


def rule_arm(seed: int, steps: int) -> list[float]:
    """The control for ``arithmetic``: GRPO on the rule reward itself (what the good reward model
    stands in for), with arm A's settings; the per-step true accuracy."""
    from rewardlab.llm.grpo import GRPO, GRPOConfig
    from rewardlab.llm.tiny import tiny_policy

    cfg = GRPOConfig(**{**ARITHMETIC_GRPO, "seed": seed}, reward="math_equiv")
    algo = GRPO(
        cfg,
        policy=tiny_policy(cfg, chars=ARITHMETIC_CHARS, seed=seed),
        task=Arithmetic(seed=seed, **ARITHMETIC),
    )
    return [algo.step()["true_reward"] for _ in range(steps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=["copy_digit", "arithmetic"], default="copy_digit")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--same-b", action="store_true", help="arithmetic: arm B with arm A's settings (lr 2e-3, 8 prompts)"
    )
    parser.add_argument(
        "--rule-steps", type=int, default=0, help="arithmetic: only GRPO on the rule reward, this many steps"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.rule_steps:
        marks = [m for m in (25, 50, 100, 200, 400) if m <= args.rule_steps]
        print("| seed | true accuracy, first 3 | " + " | ".join(f"steps {m - 9}-{m}" for m in marks) + " |")
        print("|---" * (len(marks) + 2) + "|")
        for seed in args.seeds:
            true = rule_arm(seed, args.rule_steps)
            cells = " | ".join(f"{np.mean(true[m - 10 : m]):.2f}" for m in marks)
            print(f"| {seed} | {np.mean(true[:3]):.2f} | {cells} |", flush=True)
        return
    root = Path(tempfile.mkdtemp(prefix="grpo-rm-"))
    print(f"task {args.task}")
    print(
        "| seed | A: steps | A: true first 3 -> last 5 | A: warnings, low correlation / divergence | A: last correlation | B: first warning "
        "| B: true until it | B: true last 10 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for seed in args.seeds:
        r = run(args.task, seed, root, args.same_b)
        print(f"| {r['seed']} | {r['steps_a']} | {r['true_a_first3']:.2f} -> {r['true_a_last5']:.2f} | {r['warnings_a']} / {r['divergence_a']} | "
              f"{r['corr_a']:.2f} | {r['first_warning_b']} | {r['true_b_until_warning']:.2f} | {r['true_b_last10']:.2f} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
