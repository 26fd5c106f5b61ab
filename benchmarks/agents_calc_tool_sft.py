"""SmolLM2-135M-Instruct (LoRA) on calc-tool: thought-cloning warm start, then GRPO.

    PYTHONPATH=src nice -n 10 python benchmarks/agents_calc_tool_sft.py \
        --sft-steps 30 --grpo-steps 0 --eval-limit 30 --out calc_tool_sft.json

1. the base model, greedy, on the first ``--eval-limit`` held-out problems (tool-call rate, accuracy);
2. ``--sft-steps`` of :func:`rewardlab.agents.sft.clone_oracle` (NLL on the oracle's tool call and
   answer tokens), evaluated again;
3. ``--grpo-steps`` GRPO steps from there (the examples/agents/calc_tool_smollm2.toml settings),
   evaluated again.
The no-tool baseline is the base model itself (it never calls the tool: accuracy = its head
arithmetic). Every phase's numbers are printed and written to ``--out``.
"""

import argparse
import json
import time

import torch

from rewardlab.agents.sft import clone_oracle
from rewardlab.llm.grpo import GRPO, GRPOConfig


def evaluate(algo, limit):
    t0 = time.perf_counter()
    out = algo.agent_loop.evaluate(split="test", limit=limit, batch_size=limit)
    keep = (
        "accuracy",
        "success_rate",
        "mean_return",
        "tools/calls_per_episode",
        "tools/malformed_rate",
        "turns/mean",
    )
    row = {k: out[k] for k in keep if k in out}
    row["seconds"] = round(time.perf_counter() - t0, 1)
    row["example"] = out["samples"][0]["transcript"][:300]
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sft-steps", type=int, default=30)
    ap.add_argument("--sft-batch", type=int, default=8)
    ap.add_argument("--sft-lr", type=float, default=3e-4)
    ap.add_argument("--grpo-steps", type=int, default=0)
    ap.add_argument("--tool-bonus", type=float, default=0.1)
    ap.add_argument("--eval-limit", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="calc_tool_sft.json")
    ap.add_argument("--skip-base", action="store_true", help="do not evaluate the base model first")
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg = GRPOConfig(
        env="calc-tool",
        task_params={"tool_bonus": args.tool_bonus, "num_test": 100},
        seed=0,
        num_threads=args.threads,
        model="smollm2-135m-instruct",
        lora_r=16,
        lora_alpha=32,
        learning_rate=3e-4,
        batch_size=4,
        num_generations=8,
        max_completion_length=160,
        max_prompt_length=256,
        micro_batch_size=16,
        loss_type="dapo",
        beta=0.0,
        total_steps=max(args.grpo_steps, 1),
        agent={"max_turns": 3, "max_turn_tokens": 64, "max_tool_output_tokens": 32},
    )
    algo = GRPO(cfg)
    report = {"args": vars(args)}

    def log(name, row):
        report[name] = row
        print(name, json.dumps(row), flush=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)

    if not args.skip_base:
        log("base", evaluate(algo, args.eval_limit))
    if args.sft_steps:
        sft = clone_oracle(
            algo.agent_loop,
            steps=args.sft_steps,
            batch_size=args.sft_batch,
            learning_rate=args.sft_lr,
            seed=0,
        )
        log("sft", sft)
        log("after_sft", evaluate(algo, args.eval_limit))
    if args.grpo_steps:
        t0 = time.perf_counter()
        for step in range(args.grpo_steps):
            m = algo.step()
            keys = ("reward", "tools/calls_per_episode", "turns/mean", "loss")
            print("grpo step", step, {k: round(float(m[k]), 3) for k in keys if k in m}, flush=True)
        log("grpo_seconds", round(time.perf_counter() - t0, 1))
        log("after_grpo", evaluate(algo, args.eval_limit))


if __name__ == "__main__":
    main()
