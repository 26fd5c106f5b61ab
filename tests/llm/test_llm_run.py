"""GRPO inside the Run: resuming from a checkpoint rewrites metrics.jsonl and samples.jsonl exactly."""

import pytest
from _resume import comparable_result, killed_after_checkpoint, logged_metrics

from rewardlab.core.run import Run, new_config, read_metrics

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")
pytest.importorskip("peft", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

TINY = [
    "model=tiny-random-llama", "num_threads=1", "lora_r=4", "max_completion_length=6", "max_prompt_length=64",
    "batch_size=2", "num_generations=4", "num_iterations=2", "beta=0.04", "learning_rate=1e-3",
    "checkpoint_every=3", "eval_episodes=4", "samples_every=1", "samples_per_log=2",
    "task_params={digits=1, num_train=20, num_test=6}",
]  # fmt: skip
def test_grpo_run_resume_rewrites_the_same_logs(tmp_path):
    config = new_config("grpo", sets=TINY, cli={"env": "arithmetic", "total_steps": 6, "seed": 1})
    full = tmp_path / "full"
    result = Run.start("grpo", config, full).train(progress=False)
    reference = read_metrics(full)
    samples = (full / "samples.jsonl").read_text()
    assert len(reference) == 6 and len(samples.splitlines()) == 12
    # keep only the checkpoint at step 3: mid-rollout (mu = 2)
    cut = killed_after_checkpoint(full, 1, copy_to=tmp_path / "cut")
    resumed = Run.resume(cut)
    assert resumed.algo.global_step == 3 and resumed.algo.rollout.uses == 1
    again = resumed.train(progress=False)
    assert logged_metrics(cut) == logged_metrics(full)
    assert (cut / "samples.jsonl").read_text() == samples
    assert comparable_result(again) == comparable_result(result)
