"""Each CLI command end to end in a temporary directory, and the errors users hit first."""

import json

import pytest
from _resume import killed_after_checkpoint, logged_metrics

from rewardlab.cli import main

FAST = ["--set", "num_envs=2", "--set", "n_steps=64", "--set", "batch_size=64", "--set", "n_epochs=1",
        "--set", "eval_episodes=2"]  # fmt: skip


def _train(out, *extra, steps=512, seed=0):
    return main(["train", "ppo", "--env", "CartPole-v1", "--total-steps", str(steps), "--seed", str(seed),
                 "--out", str(out), "--no-progress", *FAST, *extra])  # fmt: skip


def test_train_eval_plot_list(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _train(tmp_path / "a") == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1] == f"Run directory: {tmp_path / 'a'}"
    for name in ("config.toml", "metrics.jsonl", "eval.json", "curve.png"):
        assert (tmp_path / "a" / name).is_file()
    rows = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 512 and {"episode_return_mean", "policy_loss", "value_loss", "sps"} <= set(rows[-1])

    assert main(["eval", str(tmp_path / "a"), "--episodes", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 3 and result["step"] == 512

    assert _train(tmp_path / "b", seed=1) == 0
    assert main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "fig.png")]) == 0
    assert (tmp_path / "fig.png").stat().st_size > 1000

    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "ppo" in listing and "dqn" in listing and "CartPole-v1" in listing

    # without --out, runs go to runs/<algo>-<env>-s<seed>-<UTC time to the microsecond>/
    assert main(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "128", "--no-progress", *FAST]) == 0
    (made,) = (tmp_path / "runs").iterdir()
    assert made.name.startswith("ppo-CartPole-v1-s0-") and made.name.endswith("Z")


def test_resume_via_cli_continues_to_the_end(tmp_path, capsys):
    out = tmp_path / "r"
    assert _train(out, "--set", "checkpoint_every=128", steps=1024) == 0
    full = logged_metrics(out)
    killed_after_checkpoint(out, 3)
    assert main(["train", "ppo", "--resume", str(out), "--no-progress"]) == 0
    assert logged_metrics(out) == full


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["train", "ppo", "--env", "CartPol-v1"], "unknown environment 'CartPol-v1'. Did you mean: CartPole-v1"),
        (["train", "ppoo", "--env", "CartPole-v1"], "unknown algorithm 'ppoo'. Did you mean: ppo"),
        (["train", "ppo", "--env", "CartPole-v1", "--set", "learning_rate=abc"],
         "config key 'learning_rate': value 'abc' is not a valid float"),
        (["train", "ppo", "--env", "CartPole-v1", "--set", "lr=0.1"], "unknown config key 'lr'"),
        (["eval", "/nonexistent/run"], "is not a rewardlab run directory"),
    ],
)
def test_bad_input_exits_non_zero_with_a_clear_message(tmp_path, capsys, argv, expected):
    argv = [*argv, "--out", str(tmp_path / "x")] if argv[0] == "train" else argv
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in " ".join(err.split())
    assert not (tmp_path / "x").exists()


def test_out_must_be_empty_and_resume_must_match(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, steps=256) == 0
    before = (out / "metrics.jsonl").read_text()
    assert _train(out, steps=256) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["train", "dqn", "--resume", str(out)]) == 2
    assert "trained with 'ppo'" in capsys.readouterr().err
    assert main(["train", "ppo", "--resume", str(out), "--set", "gamma=0.5"]) == 2
    assert "gamma=0.5 (saved: 0.99)" in " ".join(capsys.readouterr().err.split())
    assert (out / "metrics.jsonl").read_text() == before


def test_eval_prints_one_result_as_key_value_rows(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")  # a narrow console: a one-row table would truncate every header
    assert _train(tmp_path / "a", steps=256) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "a"), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    for key in ("step", "mean_return", "std_return", "episodes", "mean_length", "checkpoint"):
        assert any(line.split("│")[1].strip() == key for line in out.splitlines() if line.count("│") == 3), key
    assert "…" not in out.split("checkpoint")[0]


def test_greedy_loop_is_reported_with_its_states(tmp_path, capsys):
    """The issue's reproduction: SARSA on CliffWalking-v1, 50k steps, seed 2 learns a greedy policy that
    pushes against the top wall forever; eval -1000 is the step limit, and eval says so."""
    from rewardlab.tabular.td import greedy_loop

    assert greedy_loop([36, 24, 25, 26, 25, 26]) == [25, 26] and greedy_loop([36, 24, 3, 3]) == [3]
    assert greedy_loop([36, 24, 25]) == []
    argv = ["train", "sarsa", "--env", "CliffWalking-v1", "--total-steps", "50000", "--seed", "2",
            "--out", str(tmp_path / "s"), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    saved = json.loads((tmp_path / "s" / "eval.json").read_text())
    assert saved["mean_return"] == -1000 and saved["cut_at_step_limit"] == 1
    loop = saved["loop_states"]
    assert loop and all(0 <= s < 48 for s in loop)
    assert "cut at the step limit (max_episode_steps=1000)" in saved["warning"]
    assert f"state {loop[0]}" in saved["warning"] and "warning: the greedy policy was cut" in out
