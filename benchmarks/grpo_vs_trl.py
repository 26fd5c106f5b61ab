"""rewardlab's GRPO vs TRL's GRPOTrainer on the same model, prompts, G, lengths, LoRA rank and loss.

    .venv/bin/python benchmarks/grpo_vs_trl.py                      # SmolLM2-135M-Instruct, 3 timed steps
    .venv/bin/python benchmarks/grpo_vs_trl.py --model tiny-random-llama --steps 5   # a quick check
    .venv/bin/python benchmarks/grpo_vs_trl.py --device cuda --prompts 16 --G 8 --max-new-tokens 128 \
        --micro-batch 64 --steps 10                   # on a GPU: both frameworks on cuda:0 (docs/gpu.md)

Each framework runs in its own child process (so peak RSS is its own), one warm-up step and then
``--steps`` timed optimizer steps, with the same torch thread count. Prompts are the
``arithmetic`` task's training problems in their chat template, the reward is rewardlab's
``math_equiv`` (last number equals the answer) for both, the loss is ``dapo`` with beta 0, LoRA
on all linear layers. TRL is run as a user gets it (its GRPOConfig defaults: gradient
checkpointing on, bf16 autocast) and, in a second row, with both off (fp32, as rewardlab runs).
Needs ``pip install trl==1.16.0`` (benchmark only). Prints seconds per step, generated tokens
per second (completion tokens / step time) and peak RSS.

``--device cuda``: both frameworks train on the GPU (rewardlab's ``device = "cuda"``, TRL's Trainer
without ``use_cpu``) and the table adds each one's peak GPU memory; ``--dtype bfloat16`` loads
rewardlab's model in bf16 (TRL's default row autocasts to bf16). Without a GPU it refuses, saying
why; it has not been run on one yet (docs/gpu.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_gpu_mib() -> float:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_initialized() else float("nan")


def gpu_missing(device: str) -> str | None:
    """Why ``device`` cannot be used here, or None (a CPU device, or a GPU torch sees)."""
    import torch

    if not device.startswith("cuda") or torch.cuda.is_available():
        return None
    build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
    return (
        f"--device {device}: torch {torch.__version__} ({build}) sees no CUDA GPU on this machine. Run it "
        "where a GPU is, with torch's CUDA build of the same version (docs/gpu.md); no numbers were made."
    )


def arithmetic_examples(n: int):
    from rewardlab import tasks

    return list(tasks.make("arithmetic", seed=0, digits=2, ops="+-").examples("train"))[:n]


def run_rewardlab(args) -> dict:
    import torch

    from rewardlab.llm.grpo import GRPO, GRPOConfig

    torch.set_num_threads(args.threads)
    cfg = GRPOConfig(
        env="arithmetic",
        task_params={"digits": 2, "ops": "+-"},
        model=args.model,
        num_threads=args.threads,
        lora_r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        learning_rate=3e-4,
        lr_scheduler="constant",
        batch_size=args.prompts,
        num_generations=args.G,
        max_completion_length=args.max_new_tokens,
        max_prompt_length=128,
        micro_batch_size=args.micro_batch,
        device=args.device,
        dtype=args.dtype,
        loss_type="dapo",
        beta=0.0,
        total_steps=args.steps + 1,
    )
    algo = GRPO(cfg)
    algo.step()  # warm-up
    times, tokens = [], []
    for _ in range(args.steps):
        m = algo.step()
        times.append(m["time/step"])
        tokens.append(m["generated_tokens"])
    return {"times": times, "tokens": tokens}


def run_trl(args, variant: str) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rewardlab.llm.models import load_model

    torch.set_num_threads(args.threads)
    reward = __import__("rewardlab.tasks", fromlist=["make"]).make("arithmetic").reward()
    from rewardlab.rewards import Sample

    def accuracy(prompts, completions, reference, **_):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        samples = [Sample(prompt="", completion=t, reference=r) for t, r in zip(texts, reference)]
        return [float(v) for v in reward.score(samples).total]

    examples = arithmetic_examples(2000)
    model, tok = load_model(args.model)  # GGUF de-quantized and marked trainable
    # as rewardlab does: the chat template when the tokenizer has one, else the raw prompt
    chat = bool(getattr(tok, "chat_template", None))
    data = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": e.prompt}] if chat else e.prompt,
                "reference": e.reference,
            }
            for e in examples
        ]
    )
    tmp = tempfile.mkdtemp(prefix="trl_bench_")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)

    class Timer(TrainerCallback):
        def __init__(self):
            self.times, self.tokens, self.t0 = [], [], 0.0

        def on_step_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.times.append(time.perf_counter() - self.t0)

        def on_log(self, _args, _state, _control, logs=None, **k):
            if logs and "completions/mean_length" in logs:
                self.tokens.append(logs["completions/mean_length"] * args.prompts * args.G)

    extra = {} if variant == "default" else {"gradient_checkpointing": False, "bf16": False}
    config = GRPOConfig(
        output_dir=tmp,
        use_cpu=args.device == "cpu",
        per_device_train_batch_size=args.prompts * args.G,
        num_generations=args.G,
        max_completion_length=args.max_new_tokens,
        learning_rate=3e-4,
        lr_scheduler_type="constant",
        loss_type="dapo",
        beta=0.0,
        max_steps=args.steps + 1,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        seed=0,
        dataloader_num_workers=0,
        **extra,
    )
    peft = LoraConfig(
        r=args.lora_r,
        lora_alpha=2 * args.lora_r,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    timer = Timer()
    trainer = GRPOTrainer(
        model=tmp,
        reward_funcs=accuracy,
        args=config,
        train_dataset=data,
        processing_class=tok,
        peft_config=peft,
        callbacks=[timer],
    )
    trainer.train()
    return {"times": timer.times[1:], "tokens": timer.tokens[1:]}


def worker(args) -> None:
    if args.worker == "rewardlab":
        out = run_rewardlab(args)
    else:
        out = run_trl(args, args.worker.split(":", 1)[1])
    out["peak_rss_mib"] = peak_rss_mib()
    out["peak_gpu_mib"] = peak_gpu_mib()
    print("RESULT " + json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--steps", type=int, default=3, help="timed optimizer steps (after one warm-up step)")
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--G", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=20)
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--micro-batch", type=int, default=8, help="rewardlab sequences per forward/backward")
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1)))
    p.add_argument("--only", default="rewardlab,trl:default,trl:fp32", help="comma-separated runs")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (both frameworks)")
    p.add_argument("--dtype", default="float32", help="rewardlab's model dtype: float32, bfloat16, float16")
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    why = gpu_missing(args.device)
    if why:
        sys.exit(why)
    if args.worker:
        worker(args)
        return
    rows = []
    for name in args.only.split(","):
        cmd = [sys.executable, __file__, "--worker", name] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k not in ("worker", "only")
        ]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(
                f"{name} failed after {time.perf_counter() - start:.0f} s:\n{proc.stderr[-3000:]}",
                file=sys.stderr,
            )
            continue
        res = json.loads(line[len("RESULT ") :])
        sec = sum(res["times"]) / max(len(res["times"]), 1)
        tok = sum(res["tokens"]) / max(sum(res["times"]), 1e-9) if res["tokens"] else float("nan")
        rows.append((name, sec, tok, res["peak_rss_mib"], res.get("peak_gpu_mib", float("nan"))))
    label = {
        "rewardlab": "rewardlab GRPO",
        "trl:default": "TRL 1.16 GRPOTrainer (defaults: grad ckpt, bf16)",
        "trl:fp32": "TRL 1.16 GRPOTrainer (fp32, no grad ckpt)",
    }
    print(
        f"\nmodel {args.model}, {args.prompts} prompts x G {args.G}, {args.max_new_tokens} new tokens, "
        f"LoRA r {args.lora_r}, loss dapo, beta 0, {args.threads} threads, {args.steps} timed steps, "
        f"device {args.device}, rewardlab dtype {args.dtype}"
    )
    gpu = args.device != "cpu"
    head = f"{'run':52s} {'s/step':>8s} {'gen tok/s':>10s} {'peak RSS MiB':>13s}"
    print(head + (f" {'peak GPU MiB':>13s}" if gpu else "") + f" {'speed vs':>9s}")
    base = next((r[1] for r in rows if r[0] == "rewardlab"), None)
    for name, sec, tok, rss, gpu_mib in rows:
        ratio = f"{sec / base:.2f}x" if base else "-"
        line = f"{label.get(name, name):52s} {sec:8.2f} {tok:10.1f} {rss:13.0f}"
        print(line + (f" {gpu_mib:13.0f}" if gpu else "") + f" {ratio:>9s}")
    if base:
        print("(speed vs: the run's seconds per step / rewardlab's; > 1 means rewardlab is faster)")


if __name__ == "__main__":
    main()
