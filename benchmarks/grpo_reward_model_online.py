"""A reward model that keeps learning inside GRPO against the same reward model frozen (issue 11).

The copy-digit toy of ``benchmarks/grpo_reward_model_hacking.py``: a weak Bradley-Terry reward model
(50 pairs, 4 epochs, tiny random Llama) drives GRPO from scratch in both arms, with the copy rule
as ``true_reward``. Frozen arm: the reward model never changes. Online arm: the copy rule labels
each batch (``reward_labeller``), at most 16 preference pairs a step join the reward model's
buffer and it takes one optimizer step (``rewards/learned/online_preferences.py``). Prints, per
seed and arm: the reward model's pairwise accuracy on every (right, wrong) answer pair before and
after, and the true accuracy over the first 5 and the last 10 of ``--steps`` steps.
``tests/llm/test_grpo_reward_model.py`` asserts the same on seed 0.

Run:  python benchmarks/grpo_reward_model_online.py [--seeds 0 1 2] [--steps 60]
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
from test_grpo_reward_model import COPY_RULE, TOY, copy_pairs, reward_model  # noqa: E402

from rewardlab.llm.grpo import GRPO, GRPOConfig  # noqa: E402
from rewardlab.rewards.learned.reward_model import load_reward_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--pairs-per-step", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="grpo-rm-online-"))
    (root / "rules.py").write_text(COPY_RULE)
    rule = f"{root / 'rules.py'}:copy_rule"
    print("| seed | arm | RM pair accuracy before -> after | true accuracy first 5 -> last 10 |")
    print("|---|---|---|---|")
    for seed in args.seeds:
        weak = reward_model(root / f"weak{seed}", "rm_weak", copy_pairs(50, 1 + seed), epochs=4)
        every_pair = copy_pairs(440, 100 + seed)
        before = load_reward_model(weak).pairwise_accuracy(every_pair)
        online = {"reward_labeller": rule, "reward_pairs_per_step": args.pairs_per_step}
        for arm, extra in (("frozen", {}), ("online", online)):
            cfg = GRPOConfig(**{**TOY, "seed": seed}, reward=str(weak), true_reward=rule, **extra)
            algo = GRPO(cfg, policy=tiny_policy(cfg, seed=seed), task=CopyDigit(seed=seed))
            true = [algo.step()["true_reward"] for _ in range(args.steps)]
            after = algo.reward.pairwise_accuracy(every_pair)
            print(f"| {seed} | {arm} | {before:.2f} -> {after:.2f} | {np.mean(true[:5]):.2f} -> {np.mean(true[-10:]):.2f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
