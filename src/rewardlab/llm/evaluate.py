"""Held-out evaluation of an LM policy on a task: greedy completions, mean reward, accuracy.

``rewardlab eval`` uses :func:`evaluate_model` for a base model given by name or path, and the one
run-directory evaluator (:func:`rewardlab.core.run.evaluate_run`) for a trained run.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.llm.policy import Policy, PolicyConfig


def make_task(name: str, seed: int, params: dict[str, Any]) -> Any:
    from rewardlab import agents, tasks

    if name not in tasks.TASKS and name in agents.ENVS:  # a multi-turn agent env (rewardlab.agents)
        return agents.make(name, seed=seed, **params)
    return tasks.make(name, seed=seed, **params)


def score(reward: Any, samples: list[Any]) -> Any:
    """``reward.score(samples)`` checked: one finite value per sample, else an error naming the reward."""
    result = reward.score(samples)
    total = np.asarray(result.total, dtype=np.float64)
    name = getattr(reward, "name", type(reward).__name__)
    if total.shape != (len(samples),):
        raise RewardlabError(
            f"reward {name!r} returned {total.size} values for {len(samples)} completions; it must return one each"
        )
    bad = np.flatnonzero(~np.isfinite(total))
    if bad.size:
        raise RewardlabError(f"reward {name!r} returned {total[bad[0]]} for sample {int(bad[0])}")
    return result


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
    ``max_prompt_length``, ``dtype``, ...). No LoRA is added. ``model = "oracle"`` on an agent env
    scores the env's scripted expert instead (``rewardlab eval oracle --task ENV``).
    """
    if model == "oracle":
        from rewardlab import agents

        if task in agents.ENVS:
            from rewardlab.agents.rollout import run_oracle

            return run_oracle(task, split=split, limit=limit, seed=seed, **(task_params or {}))
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
        from rewardlab.core.run import evaluate_run

        lm = {"split": split, "limit": limit, "task": task, "task_params": task_params}
        return evaluate_run(target, num_threads=num_threads, **lm)
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
