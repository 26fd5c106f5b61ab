"""GRPO through the Python API on the tiny random Llama: the user's reward by file path (TRL signature),
prompts as a list of dicts; eval and load rebuild exactly that reward, never the task's default."""

import textwrap

import pytest

import rewardlab
from rewardlab.registry import UnrebuildableError

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")
pytest.importorskip("peft", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

PROMPTS = [{"prompt": f"{d}=", "reference": str(d)} for d in range(10)]
TINY = dict(model="tiny-random-llama", num_threads=1, lora_r=4, max_completion_length=3, max_prompt_length=16,
            batch_size=2, num_generations=2, learning_rate=1e-3, eval_episodes=5, samples_every=0,
            task_params={"test_fraction": 0.5})  # fmt: skip
REWARD = '''
def copy_bit(prompts, completions, solution, **columns):
    """0.25 for any answer, 0.75 when the first character is the reference: never 0 or 1, so a run
    scored with the jsonl task's default reward (exact_match, 0 or 1) would show."""
    return [0.75 if c[:1] == s else 0.25 for c, s in zip(completions, solution)]
'''


def test_grpo_with_a_reward_file_and_prompt_dicts(tmp_path, monkeypatch):
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "my_reward.py").write_text(textwrap.dedent(REWARD))
    monkeypatch.chdir(tmp_path)
    run = rewardlab.train("grpo", task=PROMPTS, reward="user/my_reward.py:copy_bit", total_steps=2,
                          out="run", progress=False, **TINY)  # fmt: skip
    config = (tmp_path / "run" / "config.toml").read_text()
    assert (
        f'reward = "{tmp_path / "user" / "my_reward.py"}:copy_bit"' in config
    )  # absolute: found from anywhere
    assert all(set(row) >= {"reward/copy_bit"} for row in run.metrics)
    assert 0.25 <= run.eval["mean_return"] <= 0.75 and run.eval["episodes"] == 5

    monkeypatch.chdir("/")
    again = rewardlab.evaluate(tmp_path / "run")
    assert again["mean_return"] == run.eval["mean_return"] and again["step"] == 2
    with rewardlab.load(tmp_path / "run") as agent:
        assert agent.evaluate()["mean_return"] == run.eval["mean_return"]
        completions = agent.generate(["3=", "4="])
        assert len(completions) == 2 and all(isinstance(c, str) for c in completions)
        expected = [s["completion"] for s in run.eval["samples"][:2]]
        assert agent.generate([s["prompt"] for s in run.eval["samples"][:2]]) == expected


def test_a_reward_without_import_path_is_refused_not_replaced(tmp_path):
    def local(sample):  # a local function: no import path
        return 0.5

    run = rewardlab.train("grpo", task=PROMPTS, reward=local, total_steps=1, out=tmp_path / "run",
                          progress=False, **TINY)  # fmt: skip
    assert run.eval["mean_return"] == 0.5
    with pytest.raises(UnrebuildableError) as e:
        rewardlab.evaluate(run.dir)
    assert "reward" in str(e.value) and "local" in str(e.value) and "no import path" in str(e.value)
    with pytest.raises(UnrebuildableError):
        rewardlab.train("grpo", resume=run.dir, progress=False)
    # given again, the same object rebuilds the run
    with rewardlab.load(run.dir, reward=local) as agent:
        assert agent.evaluate()["mean_return"] == 0.5
