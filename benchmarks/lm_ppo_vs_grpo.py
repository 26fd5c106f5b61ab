"""Step time of token-level PPO (value head on the shared forward) against GRPO, same shape.

    python benchmarks/lm_ppo_vs_grpo.py                       # tiny random Llama, seconds
    python benchmarks/lm_ppo_vs_grpo.py --model smollm2-135m-instruct --steps 4

Same shape: GRPO and PPO both sample 4 prompts x 8 completions (each prompt run once per group,
its key/value cache shared), 32 sequences of at most ``--length`` tokens per optimizer step, LoRA
r 16, one micro-batch. ``--ppo-single`` gives PPO 32 prompts x 1 completion instead (verl's PPO
default), which also pays for 28 more prompt passes.
Sampled lengths differ between the two, so besides the whole step the table shows the time spent
outside generation (scoring, the no-grad pass PPO adds for its old log-probs and values, and the
update), which is where the value head costs. The target (issue 15) is PPO <= 1.5x GRPO per step.
Steps alternate between the two algorithms so that a change in machine load hits both.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from rewardlab.llm.grpo import GRPO, GRPOConfig
from rewardlab.llm.lm_ppo import LMPPO, LMPPOConfig


def build(cls, cfg_cls, args, batch_size, generations):
    cfg = cfg_cls(
        model=args.model,
        env="arithmetic",
        task_params={"digits": 2, "ops": "+-", "num_test": 20},
        num_threads=args.threads,
        batch_size=batch_size,
        num_generations=generations,
        max_completion_length=args.length,
        max_prompt_length=64,
        micro_batch_size=32,
        learning_rate=3e-4,
        lora_r=16,
        lora_alpha=32,
        samples_every=0,
        check_memory=False,
        seed=0,
    )
    return cls(cfg)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny-random-llama")
    p.add_argument("--steps", type=int, default=6, help="timed steps per algorithm (after one warm-up)")
    p.add_argument("--length", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ppo-single", action="store_true", help="PPO with 32 prompts x 1 completion")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    algos = {
        "grpo": build(GRPO, GRPOConfig, args, 4, 8),
        "lm-ppo": build(LMPPO, LMPPOConfig, args, *((32, 1) if args.ppo_single else (4, 8))),
    }
    times = {name: {"step": [], "non_generation": [], "tokens": []} for name in algos}
    for name, algo in algos.items():
        algo.step()  # warm-up
        print(f"{name} warmed up", flush=True)
    for _ in range(args.steps):
        for name, algo in algos.items():
            m = algo.step()
            times[name]["step"].append(m["time/step"])
            times[name]["non_generation"].append(m["time/step"] - m.get("time/generate", 0.0))
            times[name]["tokens"].append(m.get("generated_tokens", 0.0))
            print(
                f"{name:8s} step {m['time/step']:8.2f} s, generation {m.get('time/generate', 0.0):8.2f} s",
                flush=True,
            )
    med = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    print(f"model {args.model}, {args.steps} steps each, {args.threads} thread(s), medians")
    print(f"{'':8s} {'step s':>8s} {'non-gen s':>10s} {'tokens':>7s}")
    for n, m in med.items():
        print(f"{n:8s} {m['step']:8.3f} {m['non_generation']:10.3f} {m['tokens']:7.0f}")
    ratio = med["lm-ppo"]["step"] / med["grpo"]["step"]
    ratio_ng = med["lm-ppo"]["non_generation"] / med["grpo"]["non_generation"]
    print(f"PPO / GRPO: step {ratio:.2f}x, outside generation {ratio_ng:.2f}x (target step <= 1.5x)")


if __name__ == "__main__":
    main()
