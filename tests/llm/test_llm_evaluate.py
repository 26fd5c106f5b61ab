"""`rewardlab eval` for LM runs and base models (the functions the CLI calls)."""

import pytest

from rewardlab.config import build_config
from rewardlab.errors import RewardlabError
from rewardlab.llm.evaluate import evaluate_run_or_model
from rewardlab.llm.grpo import GRPOConfig

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")
pytest.importorskip("peft", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

TINY = [
    "model=tiny-random-llama",
    "num_threads=1",
    "lora_r=0",
    "max_completion_length=4",
    "max_prompt_length=64",
    "batch_size=2",
    "num_generations=2",
    "total_steps=2",
    "eval_episodes=3",
    "learning_rate=1e-3",
    "task_params={digits=1, num_train=20, num_test=6}",
]


def test_evaluate_a_base_model_by_name():
    out = evaluate_run_or_model(
        "tiny-random-llama",
        task="arithmetic",
        split="test",
        limit=4,
        task_params={"digits": 1, "num_train": 20, "num_test": 6},
        num_threads=1,
        max_new_tokens=4,
    )
    assert out["episodes"] == 4 and out["split"] == "test" and 0.0 <= out["accuracy"] <= 1.0
    assert out["model"] == "tiny-random-llama" and len(out["samples"]) == 4
    with pytest.raises(RewardlabError, match="needs a task: pass --task"):
        evaluate_run_or_model("tiny-random-llama")


def test_evaluate_a_trained_run(tmp_path):
    from rewardlab.core.run import Run

    cfg = build_config(GRPOConfig, sets=["env=arithmetic", *TINY])
    run = Run.start("grpo", cfg, tmp_path / "run")
    run.train(progress=False)
    out = evaluate_run_or_model(str(tmp_path / "run"), split="train", limit=5)
    assert (
        out["step"] == 2 and out["episodes"] == 5 and out["split"] == "train" and out["task"] == "arithmetic"
    )
    other = evaluate_run_or_model(
        str(tmp_path / "run"), task="countdown", limit=2, task_params={"num_train": 4, "num_test": 2}
    )
    assert other["task"] == "countdown" and other["episodes"] == 2
