"""The Python API examples in examples/api/ run as shipped, on small budgets."""

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "api"


def _example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as an import would: the env class is found again by name
    spec.loader.exec_module(module)
    return module


def test_cartpole_example(tmp_path):
    episode = _example("cartpole").main(
        total_steps=2048, out=str(tmp_path / "run"), progress=False, eval_episodes=2
    )
    assert 8 <= episode <= 500  # CartPole's return is the number of steps balanced
    assert (tmp_path / "run" / "eval.json").is_file()


def test_custom_env_example_learns(tmp_path):
    # the corridor's best return is 1 - 4 * 0.01 = 0.96 (five steps right); wandering costs
    best = _example("custom_env").main(total_steps=4096, out=str(tmp_path / "run"), progress=False)
    assert best == pytest.approx(0.96)
    assert (tmp_path / "run" / "config.toml").read_text().count("custom_env.py:Corridor") == 1


def test_grpo_reward_example(tmp_path):
    pytest.importorskip("transformers", reason="the llm extra is not installed")
    pytest.importorskip("peft", reason="the llm extra is not installed")
    score = _example("grpo_reward").main(
        total_steps=2, out=str(tmp_path / "run"), progress=False, num_threads=1
    )
    assert 0.0 <= score <= 1.0
    assert "starts_with_answer" in (tmp_path / "run" / "config.toml").read_text()
