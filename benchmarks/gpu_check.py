"""The GPU paths, run on a GPU: every GPU-ready algorithm trains with ``device = "cuda"``, keeps its
networks there, resumes bit for bit on the GPU, and its GPU checkpoint continues on the CPU.

    .venv/bin/python benchmarks/gpu_check.py            # about a minute on one GPU

Without a GPU it refuses (tests/scale/test_device.py covers what the CPU can check). It has NOT
been run yet: no GPU was lent to the session that wrote it (docs/gpu.md). Exit status 1 when any
check fails; each line says which.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import torch

from rewardlab.core.run import Run, checkpoints, is_timing_metric, new_config, read_metrics

LM = ["model=tiny-random-llama", "lora_r=4", "max_completion_length=8", "max_prompt_length=48", "batch_size=2",
      "num_generations=4", "num_iterations=2", "beta=0.04", "task_params={digits=1, num_train=8, num_test=4}"]  # fmt: skip
CASES = {
    "ppo": (["num_envs=4", "n_steps=32", "batch_size=64", "n_epochs=2"], {"env": "Pendulum-v1", "total_steps": 512}),
    "ppo-workers": (["num_envs=4", "n_steps=32", "batch_size=64", "backend=local", "num_workers=2"],
                    {"env": "CartPole-v1", "total_steps": 512}),
    "dqn": (["learning_starts=64", "train_freq=16", "gradient_steps=2", "buffer_size=1000", "batch_size=32"],
            {"env": "CartPole-v1", "total_steps": 512}),
    "grpo": (LM, {"env": "arithmetic", "total_steps": 8}),
    "rloo": (LM, {"env": "arithmetic", "total_steps": 8}),
}  # fmt: skip


def strip(rows):
    return [{k: v for k, v in r.items() if not is_timing_metric(k)} for r in rows]


def devices_of(algo) -> set[str]:
    modules = [m for m in vars(algo).values() if isinstance(m, torch.nn.Module)]
    policy = getattr(algo, "policy", None)
    if policy is not None and isinstance(getattr(policy, "model", None), torch.nn.Module):
        modules.append(policy.model)
    return {p.device.type for m in modules for p in m.parameters()}


def check(case: str, root: Path) -> list[str]:
    algo_name = case.split("-")[0]
    sets, cli = CASES[case]
    sets = [*sets, "device=cuda", f"checkpoint_every={cli['total_steps'] // 4}", "eval_episodes=2"]
    full = root / case / "full"
    run = Run.start(algo_name, new_config(algo_name, sets=sets, cli={**cli, "seed": 1}), full)
    where = devices_of(run.algo)
    run.train(progress=False)
    problems = [] if where == {"cuda"} else [f"{case}: parameters on {sorted(where)}, not only cuda"]
    cut = root / case / "cut"
    shutil.copytree(full, cut)
    for p in checkpoints(cut)[1:]:
        shutil.rmtree(p)
    Run.resume(cut).train(progress=False)
    if strip(read_metrics(cut)) != strip(read_metrics(full)):
        problems.append(f"{case}: the resumed GPU run differs from the uninterrupted one")
    on_cpu = root / case / "cpu"
    shutil.copytree(full, on_cpu)
    for p in checkpoints(on_cpu)[1:]:
        shutil.rmtree(p)
    Run.resume(on_cpu, {"device": "cpu"}).train(progress=False)  # numbers differ from the GPU's: it must run
    return problems


def main() -> int:
    if not torch.cuda.is_available():
        sys.exit(f"torch {torch.__version__} sees no CUDA GPU here; run this where one is (docs/gpu.md)")
    torch.set_num_threads(1)
    problems = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        for case in CASES:
            found = check(case, Path(tmp))
            print(f"{case:12s} {'ok' if not found else 'FAILED'}", flush=True)
            problems += found
    for line in problems:
        print(line)
    print(f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
