"""ROVER's and RLP's behavioural claims on the tiny in-process Llama (docs/lm_optimisers_rover_rlp.md).

    python benchmarks/rover_rlp_tiny.py diversity --steps 60 200 --seeds 0 1 2
    python benchmarks/rover_rlp_tiny.py rlp --steps 150 --lr 1e-3 1e-4

``diversity``: ROVER against GRPO at equal optimizer steps on a one-token task with three correct
answers per prompt ("d=" -> any digit e with (e - d) mod 10 in {1, 4, 7}); after training, 32
samples per prompt at temperature 1: accuracy and the number of distinct correct answers (of 3).
The paper's claim: ROVER keeps more distinct correct answers. (Countdown itself gives the random
character-level model no success to learn from, so the claim is tested on this stand-in.)

``rlp``: RLP on the copy task ("d=" -> "d"); the held-out log-likelihood of x_t given one sampled
thought against the EMA teacher's without a thought, before and after training. The paper's
claim: the first rises above the second.

``countdown``: how often the random tiny model solves countdown by chance (the reason the
diversity claim is tested on the stand-in).

Each prints one JSON line per run. Single-threaded; a few minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from rewardlab.llm.tiny import DIGITS, tiny_policy
from rewardlab.tasks.digits import CopyDigit, ThreeAnswers, three_answers_correct

TOY = dict(env="", num_threads=1, max_prompt_length=8, micro_batch_size=64, lr_scheduler="constant", lora_r=0)


def diversity(steps: int, seed: int, name: str, lr: float, mu: int, rover_scale: str, k: int = 32) -> dict:
    from rewardlab.llm.grpo import GRPO, GRPOConfig
    from rewardlab.llm.rover import ROVER, ROVERConfig

    cls, config_cls = {"grpo": (GRPO, GRPOConfig), "rover": (ROVER, ROVERConfig)}[name]
    cfg = config_cls(**TOY, batch_size=5, num_generations=8, max_completion_length=1, total_steps=steps,
                     num_iterations=mu, learning_rate=lr, seed=seed,
                     **({"scale_rewards": rover_scale} if name == "rover" else {}))  # fmt: skip
    algo = cls(cfg, policy=tiny_policy(cfg, seed=seed), task=ThreeAnswers(seed=0))
    start = time.perf_counter()
    rewards = [algo.step()["reward"] for _ in range(steps)]
    ids, mask = algo.policy.encode_prompts([f"{d}=" for d in DIGITS])
    torch.manual_seed(100 + seed)
    texts = algo.policy.decode(algo.policy.generate(ids, mask, num_generations=k, max_new_tokens=1))
    distinct, accuracy = [], []
    for i, d in enumerate(DIGITS):
        ok = [t[:1] for t in texts[i * k : (i + 1) * k] if three_answers_correct(t, d)]
        distinct.append(len(set(ok)))
        accuracy.append(len(ok) / k)
    return {
        "algo": name, "scale_rewards": cfg.scale_rewards, "seed": seed, "steps": steps, "num_iterations": mu, "lr": lr,
        "reward_first5": float(np.mean(rewards[:5])), "reward_last5": float(np.mean(rewards[-5:])),
        f"accuracy_at_T1_k{k}": float(np.mean(accuracy)), "distinct_correct_of_3": float(np.mean(distinct)),
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def rlp(steps: int, lr: float, seed: int = 0) -> dict:
    from rewardlab.llm.rlp import RLP, RLPConfig

    cfg = RLPConfig(**TOY, batch_size=8, num_generations=8, max_completion_length=3, total_steps=steps,
                    learning_rate=lr, temperature=1.0, document_format="{prompt}{reference}", thought_end="=",
                    seed=seed)  # fmt: skip
    algo = RLP(cfg, policy=tiny_policy(cfg, seed=seed), task=CopyDigit(seed=0))
    before = algo.evaluate(10)
    start = time.perf_counter()
    for _ in range(steps):
        algo.step()
    return {"steps": steps, "lr": lr, "seed": seed, "before": before, "after": algo.evaluate(10),
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip


def countdown_successes(prompts: int = 8, group: int = 8, tokens: int = 40) -> dict:
    """How often the random tiny model (full printable vocabulary) solves countdown by chance."""
    from rewardlab.llm.evaluate import make_task, score
    from rewardlab.llm.policy import Policy, PolicyConfig
    from rewardlab.llm.tiny import tiny_llama
    from rewardlab.rewards.base import Sample

    torch.manual_seed(0)
    task = make_task("countdown", 0, {"num_train": 2 * prompts, "num_test": 4})
    examples = list(task.examples("train"))[:prompts]
    model, tok = tiny_llama()
    policy = Policy(model, tok, PolicyConfig(lora_r=0, max_prompt_length=512, num_threads=1))
    ids, mask = policy.encode_prompts([e.prompt for e in examples])
    texts = policy.decode(policy.generate(ids, mask, num_generations=group, max_new_tokens=tokens))
    repeated = [e for e in examples for _ in range(group)]
    samples = [Sample(prompt=e.prompt, completion=t, reference=e.reference, info=dict(e.info)) for e, t in zip(repeated, texts)]  # fmt: skip
    total = np.asarray(score(task.reward(), samples).total)
    return {"countdown_samples": len(samples), "successes": int((total > 0).sum()), "example": texts[0][:40]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["diversity", "rlp", "countdown"])
    parser.add_argument("--steps", type=int, nargs="+", default=[60, 200])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-3])
    parser.add_argument("--num-iterations", type=int, default=4)
    parser.add_argument("--rover-scale-rewards", default="group", choices=["group", "none"])
    parser.add_argument("--algos", nargs="+", default=["grpo", "rover"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.what == "countdown":
        print(json.dumps(countdown_successes()), flush=True)
    elif args.what == "diversity":
        for steps in args.steps:
            for seed in args.seeds:
                for name in args.algos:
                    row = diversity(
                        steps, seed, name, args.lr[0], args.num_iterations, args.rover_scale_rewards
                    )
                    print(json.dumps(row), flush=True)
    else:
        for steps in args.steps:
            for lr in args.lr:
                print(json.dumps(rlp(steps, lr)), flush=True)


if __name__ == "__main__":
    main()
