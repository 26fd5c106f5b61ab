"""`rewardlab reward score` (score_command): table, summary, scores.jsonl, and bad-input errors."""

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from rewardlab.errors import ConfigError, RewardlabError, UnknownNameError
from rewardlab.rewards.score import score_command

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "rewards"


def run(reward, input_path, tmp_path, sets=(), limit=10, width=200):
    buf = io.StringIO()
    out = tmp_path / "out" / "scores.jsonl"
    rc = score_command(
        reward, str(input_path), list(sets), limit=limit, out=str(out), console=Console(file=buf, width=width)
    )
    return rc, buf.getvalue(), [json.loads(line) for line in out.read_text().splitlines()]


def write(tmp_path, rows, name="in.jsonl"):
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return p


def test_score_registered_reward_with_set(tmp_path):
    rows = [
        {
            "completion": "<think>t</think><answer>[{'action': 'input_text', 'text': 'héllo'}]</answer>",
            "reference": {"action": "input_text", "text": "hello"},
        },
        {
            "completion": "<answer>{'action': 'click', 'coordinate': [5, 5]}</answer>",
            "answer": {"action": "click", "bbox": [0, 0, 9, 9]},
            "scale": [2, 2],
        },
    ]
    rc, text, scores = run("gui_action", write(tmp_path, rows), tmp_path, sets=["check_args=true"])
    assert rc == 0
    assert [s["total"] for s in scores] == [2.0, 1.0]  # text differs; click (10, 10) outside after scale 2
    assert scores[0]["components"] == {
        "gui_action/action": 1.0,
        "gui_action/coord": 0.0,
        "gui_action/format": 1.0,
    }
    assert "gui_action/coord" in text and "per-component summary over 2 samples" in text
    assert "wrote 2 scores" in text


def test_score_example_config_and_nested_set(tmp_path):
    cfg, data = EXAMPLES / "gated_math.toml", EXAMPLES / "math_samples.jsonl"
    rc, text, scores = run(str(cfg), data, tmp_path, limit=2)
    assert [s["total"] for s in scores] == [1.0, 0.0, 1.0, 0.0, 1.0, 0.25, 0.0]
    assert scores[5]["components"]["overlong_penalty"] == -0.75
    assert "first 2 of 7 samples" in text
    assert "counts: math_equiv/malformed = 1" in text
    _, _, scores = run(str(cfg), data, tmp_path, sets=["parts.1.max_length=1000"])
    assert scores[5]["total"] == 1.0


def test_narrow_console_folds_components_into_one_column(tmp_path):
    _, text, _ = run(str(EXAMPLES / "gated_math.toml"), EXAMPLES / "math_samples.jsonl", tmp_path, width=80)
    assert "components" in text and max(len(line) for line in text.splitlines()) <= 80


def test_scores_file_is_replaced_atomically(tmp_path):
    data = write(tmp_path, [{"completion": "<answer>4</answer>", "reference": "4"}])
    run("math_equiv", data, tmp_path)
    run("math_equiv", data, tmp_path)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["scores.jsonl"]


def test_errors_name_the_file_line_and_closest_reward(tmp_path):
    good = write(tmp_path, [{"completion": "x"}])
    with pytest.raises(RewardlabError, match=r"input file '.*missing.jsonl' does not exist"):
        run("format_tags", tmp_path / "missing.jsonl", tmp_path)
    bad = write(tmp_path, [{"completion": "x"}, "", '{"completion": "y",}'], name="bad.jsonl")
    with pytest.raises(RewardlabError, match=r"bad.jsonl:3: not valid JSON"):
        run("format_tags", bad, tmp_path)
    no_completion = write(tmp_path, [{"prompt": "p"}], name="nc.jsonl")
    with pytest.raises(RewardlabError, match=r"nc.jsonl:1: no 'completion' key \(keys: prompt\)"):
        run("format_tags", no_completion, tmp_path)
    with pytest.raises(UnknownNameError, match=r"unknown reward 'math_equv'\. Did you mean: math_equiv\?"):
        run("math_equv", good, tmp_path)
    with pytest.raises(RewardlabError, match=r"reward config file 'nope.toml' does not exist"):
        run("nope.toml", good, tmp_path)
    with pytest.raises(ConfigError, match=r"has no 'parts.7'|is not an index"):
        run(str(EXAMPLES / "gated_math.toml"), good, tmp_path, sets=["parts.7.x=1"])
    empty = write(tmp_path, [], name="empty.jsonl")
    with pytest.raises(RewardlabError, match="has no samples"):
        run("format_tags", empty, tmp_path)


def test_config_without_reward_table(tmp_path):
    cfg = tmp_path / "r.toml"
    cfg.write_text('reward = "exact_match"\ncase_sensitive = true\n')
    data = write(tmp_path, [{"completion": "Paris", "reference": "paris"}])
    assert run(str(cfg), data, tmp_path)[2][0]["total"] == 0.0
    cfg.write_text("[other]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"has no \[reward\] table"):
        run(str(cfg), data, tmp_path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"completion": 5},
            r"'completion' must be a string or a list of chat messages .*, got a number \(5\)",
        ),
        (
            {"completion": {"text": "x"}},
            r"'completion' must be a string or a list of chat messages .*, got an object",
        ),
        (
            {"completion": [{"role": "assistant", "content": 3}]},
            r"'completion' must be a string or a list of chat messages .*, got an array",
        ),
        (
            {"completion": "x", "prompt": 1.5},
            r"'prompt' must be a string or a list of chat messages .*, got a number \(1.5\)",
        ),
        ({"completion": "x", "info": [1]}, r"'info' must be an object, got an array \(\[1\]\)"),
        (
            {"completion": "x", "completion_ids": [1, "a"]},
            r"'completion_ids' must be an array of integer token ids, got an array",
        ),
    ],
)
def test_a_field_of_the_wrong_type_names_file_line_field_and_expected_type(tmp_path, row, message):
    data = write(tmp_path, [{"completion": "fine"}, row])
    with pytest.raises(RewardlabError, match=r"in\.jsonl:2: " + message):
        run("format_tags", data, tmp_path)
    assert not (tmp_path / "out").exists()  # nothing half-written
