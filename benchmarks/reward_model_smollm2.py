"""Bradley-Terry reward models on arithmetic preference pairs: SmolLM2-135M-Instruct + LoRA against the
tiny random Llama, on the same pairs (issue 11, "backbones: ... SmolLM2 + LoRA").

Pairs come from the ``arithmetic`` task (2-digit + and -, the short template ``"47 + 38 ="``): the
chosen completion is the right result, the rejected one the result moved by a non-zero offset in
[-10, 10] (a near miss, so length or digit count rarely gives the answer away). Training pairs come
from the task's train split, test pairs from its test split (disjoint problems). Each backbone is
trained by the Run that ``rewardlab train reward-model`` runs (``api.train("reward-model", ...)``,
the same config keys; 20 % of the training pairs are the held-out set for early stopping), and
then scored with its kept weights on the test pairs. Best-of-N: for each test problem, the right
result and N-1 near misses; the reward model's argmax against a random pick (1/N).

The equivalent command for the SmolLM2 arm::

    rewardlab train reward-model --set data=train.jsonl --set backbone=smollm2-135m-instruct \\
        --set lora_r=16 --set learning_rate=5e-4 --set batch_size=16 --total-steps 2

Run (long: through the calibration slots)::

    python benchmarks/reward_model_smollm2.py --train-pairs 240 --test-pairs 150 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rewardlab import api
from rewardlab.rewards.learned.preferences import read_preference_pairs
from rewardlab.rewards.selection import best_of_n
from rewardlab.tasks.arithmetic import Arithmetic

TEMPLATE = "{a} {op} {b} ="


def near_misses(result: int, k: int, rng: np.random.Generator, max_offset: int = 10) -> list[int]:
    offsets = rng.choice([o for o in range(-max_offset, max_offset + 1) if o != 0], size=k, replace=False)
    return [result + int(o) for o in offsets]


def write_pairs(
    path: Path, examples: list, rng: np.random.Generator, rejected: int = 1, max_offset: int = 10
) -> Path:
    rows = [
        {"prompt": ex.prompt, "chosen": f" {ex.reference}", "rejected": f" {miss}"}
        for ex in examples
        for miss in near_misses(int(ex.reference), rejected, rng, max_offset)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def arm(
    name: str, keys: dict, train: Path, test: Path, bon: list[list[str]], root: Path, epochs: int
) -> dict:
    start = time.perf_counter()
    run = api.train(
        "reward-model",
        config={"data": str(train), **keys},
        out=root / name,
        total_steps=epochs,
        progress=False,
    )
    seconds = time.perf_counter() - start
    pairs = read_preference_pairs(test)
    with run.algo.kept_weights() as rm:
        test_acc = rm.pairwise_accuracy(pairs)
        picked = best_of_n(bon, rm.rewards, len(bon[0]))
    return {
        "arm": name,
        "train_seconds": round(seconds, 1),
        "val_accuracy": run.eval["accuracy"],
        "best_epoch": run.eval["best_epoch"],
        "test_accuracy": test_acc,
        "best_of_n": float(np.mean(picked.index == 0)),  # the right result is candidate 0
        "history": [
            {k: round(r[k], 3) for k in ("loss", "train/accuracy", "eval/accuracy")} for r in run.metrics
        ],
    }


def lm_prior_arm(test: Path, bon: list[list[str]], prompts: list[str]) -> dict:
    """No training: SmolLM2's own summed log-probability of the completion given the prompt, as the
    score (what the pretrained model already knows about these sums)."""
    from rewardlab.llm.models import load_model

    model, tok = load_model("smollm2-135m-instruct")
    model.eval()

    def logprob(texts: list[str]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for text in texts:
                prompt = next(p for p in prompts if text.startswith(p))
                ids = tok(text, return_tensors="pt")["input_ids"]
                n_prompt = len(tok(prompt)["input_ids"])
                logits = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
                out.append(
                    float(logits[torch.arange(n_prompt - 1, ids.shape[1] - 1), ids[0, n_prompt:]].sum())
                )
        return np.asarray(out)

    pairs = read_preference_pairs(test)
    picked = best_of_n(bon, logprob, len(bon[0]))
    return {
        "arm": "smollm2-prior",
        "test_accuracy": float(np.mean(logprob(pairs.chosen) > logprob(pairs.rejected))),
        "best_of_n": float(np.mean(picked.index == 0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-pairs", type=int, default=240)
    parser.add_argument("--test-pairs", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=2, help="SmolLM2 epochs (the tiny model gets 10)")
    parser.add_argument("--best-of", type=int, default=4)
    parser.add_argument("--best-of-problems", type=int, default=50)
    parser.add_argument("--arms", nargs="+", default=["tiny", "smollm2"], help="tiny, smollm2, prior")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--digits", type=int, default=2, help="operand digits (1: the space holds 100 problems)"
    )
    parser.add_argument("--ops", default="+-")
    parser.add_argument("--rejected", type=int, default=1, help="near misses (pairs) per problem")
    parser.add_argument("--max-offset", type=int, default=10, help="a near miss is within this of the result")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # --train-pairs / --test-pairs count problems; each gives --rejected pairs
    sizes = {"num_train": max(args.train_pairs, 1000), "num_test": 200} if args.digits > 1 else {
        "num_train": args.train_pairs, "num_test": args.test_pairs}  # fmt: skip
    task = Arithmetic(seed=args.seed, template=TEMPLATE, digits=args.digits, ops=args.ops, **sizes)
    rng = np.random.default_rng(args.seed)
    root = Path(tempfile.mkdtemp(prefix="rm-smollm2-"))
    train_examples = list(task.examples("train"))[: args.train_pairs]
    train = write_pairs(root / "train.jsonl", train_examples, rng, args.rejected, args.max_offset)
    test_examples = list(task.examples("test"))[: args.test_pairs]
    test = write_pairs(root / "test.jsonl", test_examples, rng, args.rejected, args.max_offset)
    bon = [
        [
            ex.prompt + f" {r}"
            for r in [
                int(ex.reference),
                *near_misses(int(ex.reference), args.best_of - 1, rng, args.max_offset),
            ]
        ]
        for ex in test_examples[: args.best_of_problems]
    ]
    common = {"seed": args.seed, "batch_size": 16, "val_fraction": 0.2}
    arms = {
        "tiny": ({**common, "backbone": "tiny-random-llama", "learning_rate": 1e-3}, 10),
        "smollm2": (
            {
                **common,
                "backbone": "smollm2-135m-instruct",
                "lora_r": 16,
                "lora_alpha": 32,
                "learning_rate": 5e-4,
            },
            args.epochs,
        ),
    }
    for name in args.arms:
        if name == "prior":
            print(json.dumps(lm_prior_arm(test, bon, [ex.prompt for ex in test_examples])), flush=True)
            continue
        keys, epochs = arms[name]
        print(json.dumps(arm(name, keys, train, test, bon, root, epochs)), flush=True)
    print(f"pairs: {args.train_pairs} train ({root / 'train.jsonl'}), {args.test_pairs} test; best-of-{args.best_of} "
          f"on {len(bon)} problems (random pick: {1 / args.best_of:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
