"""Held-out evaluation of an LM policy on a task: greedy completions, mean reward, accuracy.

``rewardlab eval`` uses :func:`evaluate_model` for a base model given by name or path, and
``LMAlgorithm.evaluate_task`` for a trained run (after ``load_state_dict``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.llm.base import make_task, score
from rewardlab.llm.policy import Policy, PolicyConfig


def evaluate_model(
    model: str,
    task: str,
    *,
    split: str = "test",
    limit: int | None = None,
    task_params: dict[str, Any] | None = None,
    seed: int = 0,
    max_new_tokens: int = 256,
    batch_size: int = 50,
    num_threads: int | None = None,
    **policy_settings: Any,
) -> dict[str, Any]:
    """Evaluate a base model (``smollm2-135m-instruct``, a directory or a .gguf file) on a task split.

    ``policy_settings`` are :class:`PolicyConfig` fields (``use_chat_template``, ``system_prompt``,
    ``max_prompt_length``, ``dtype``, ...). No LoRA is added.
    """
    import torch

    cfg = PolicyConfig(model=model, seed=seed, lora_r=0, **policy_settings)
    if num_threads is not None:
        cfg.num_threads = num_threads
    cfg.validate()
    torch.set_num_threads(cfg.num_threads)
    the_task = make_task(task, seed, task_params or {})
    policy = Policy.from_config(cfg)
    if hasattr(the_task, "make_env"):  # a multi-turn agent env (rewardlab.agents): whole episodes
        from rewardlab.agents.rollout import evaluate_agent_model

        out = evaluate_agent_model(policy, the_task, split=split, limit=limit, max_new_tokens=max_new_tokens)
        out.update(model=model, num_threads=cfg.num_threads)
        return out
    out = evaluate_policy(
        policy,
        the_task,
        the_task.reward(),
        split=split,
        limit=limit,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    out["model"] = model
    out["num_threads"] = cfg.num_threads
    return out


def evaluate_policy(
    policy: Policy,
    task: Any,
    reward: Any,
    *,
    split: str = "test",
    limit: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 50,
    num_samples: int = 5,
) -> dict[str, Any]:
    """Greedy decoding on a task split: mean reward, accuracy (full-marks fraction), a few samples."""
    from rewardlab.rewards.base import Sample

    examples = list(task.examples(split))
    if limit is not None and limit > 0:
        examples = examples[:limit]
    if not examples:
        raise RewardlabError(f"task {getattr(task, 'name', task)!r} split {split!r} has no examples")
    totals: list[float] = []
    samples_out: list[dict[str, Any]] = []
    start = time.perf_counter()
    tokens = 0
    full_marks = getattr(reward, "maximum", 1.0)
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        prompt_ids, prompt_mask = policy.encode_prompts([ex.prompt for ex in chunk])
        batch = policy.generate(prompt_ids, prompt_mask, max_new_tokens=max_new_tokens, greedy=True)
        tokens += int(batch.completion_mask.sum())
        texts = policy.decode(batch)
        samples = [
            Sample(prompt=ex.prompt, completion=t, reference=ex.reference, info=dict(ex.info))
            for ex, t in zip(chunk, texts)
        ]
        result = score(reward, samples)
        totals.extend(float(v) for v in result.total)
        for ex, t, v in zip(chunk, texts, result.total):
            if len(samples_out) < num_samples:
                samples_out.append(
                    {"prompt": ex.prompt, "completion": t, "reference": ex.reference, "reward": float(v)}
                )
    arr = np.asarray(totals)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(arr >= full_marks)) if math.isfinite(full_marks) else float("nan")
    return {
        "mean_return": float(arr.mean()),
        "std_return": float(arr.std()),
        "episodes": len(arr),
        "accuracy": accuracy,
        "split": split,
        "task": getattr(task, "name", str(task)),
        "seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds > 0 else float("nan"),
        "samples": samples_out,
    }


def evaluate_run_or_model(
    target: str,
    *,
    task: str | None = None,
    split: str = "test",
    limit: int | None = None,
    task_params: dict[str, Any] | None = None,
    num_threads: int | None = None,
    **model_settings: Any,
) -> dict[str, Any]:
    """``rewardlab eval RUN_OR_MODEL --task T --split S --limit N``.

    ``target`` is a run directory (its newest checkpoint is loaded; ``task`` defaults to the task it
    was trained on) or a model (a name such as ``smollm2-135m-instruct``, a directory saved with
    ``save_pretrained``, or a .gguf file; then ``task`` is required).
    """
    from pathlib import Path

    if target == "oracle" and task is not None:  # an agent env's scripted expert (rewardlab.agents)
        from rewardlab.agents.rollout import run_oracle

        return run_oracle(task, split=split, limit=limit, **(task_params or {}))
    if (Path(target) / "config.toml").is_file():
        import dataclasses

        import torch

        from rewardlab import registry
        from rewardlab.core.run import checkpoints, load_saved_config

        algo_name, config = load_saved_config(target)
        if num_threads is not None:
            config = dataclasses.replace(config, num_threads=num_threads)
        ckpts = checkpoints(target)
        if not ckpts:
            raise RewardlabError(f"{target} has no complete checkpoint to evaluate")
        algo = registry.get_algorithm(algo_name)(config)
        try:
            algo.load_state_dict(torch.load(ckpts[-1] / "state.pt", weights_only=False)["algo"])
            if not hasattr(algo, "evaluate_task"):
                raise RewardlabError(
                    f"{target} is a {algo_name} run, not a language-model run; use --episodes"
                )
            out = algo.evaluate_task(split=split, limit=limit, task=task, task_params=task_params)
            return {"step": algo.global_step, "checkpoint": str(ckpts[-1]), **out}
        finally:
            algo.close()
    if task is None:
        raise RewardlabError(
            f"evaluating the model {target!r} needs a task: pass --task NAME (e.g. arithmetic)"
        )
    return evaluate_model(
        target,
        task,
        split=split,
        limit=limit,
        task_params=task_params,
        num_threads=num_threads,
        **model_settings,
    )
