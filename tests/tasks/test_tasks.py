"""Tasks: seeded disjoint splits, correct references, safe countdown checking, GUI screens, JSONL errors."""

import json

import pytest

from rewardlab import tasks
from rewardlab.errors import ConfigError, RewardlabError, UnknownNameError
from rewardlab.rewards import Malformed, Sample
from rewardlab.tasks.countdown import CountdownReward, evaluate_expression, solve


def score(reward, completion, reference, **info):
    return float(
        reward.score([Sample(prompt="", completion=completion, reference=reference, info=info)]).total[0]
    )


def test_registry_names_and_errors():
    assert set(tasks.TASKS) == {"arithmetic", "countdown", "gui_actions", "jsonl"}
    with pytest.raises(UnknownNameError, match="unknown task 'arithmetc'.*Did you mean: arithmetic"):
        tasks.make("arithmetc")
    with pytest.raises(ConfigError, match="no parameter 'digit'; valid parameters: reward, digits"):
        tasks.make("arithmetic", digit=3)


def test_arithmetic_splits_are_seeded_disjoint_and_correct():
    a = tasks.make("arithmetic", seed=0, digits=2, ops="+-*", num_train=500, num_test=100)
    b = tasks.make("arithmetic", seed=1, digits=2, ops="+-*", num_train=500, num_test=100)
    train, test = a.examples("train"), a.examples("test")
    assert len(train) == 500 and len(test) == 100
    assert not {e.prompt for e in train} & {e.prompt for e in test}
    assert [e.prompt for e in test] == [e.prompt for e in b.examples("test")]  # the same held-out set
    assert [e.prompt for e in train] != [e.prompt for e in b.examples("train")]  # seeded training draws
    assert [e.prompt for e in train] == [
        e.prompt
        for e in tasks.make("arithmetic", seed=0, digits=2, ops="+-*", num_train=500, num_test=100).examples(
            "train"
        )
    ]
    for e in train + list(test):
        a_, op, b_ = e.info["a"], e.info["op"], e.info["b"]
        assert 10 <= a_ <= 99 and 10 <= b_ <= 99
        assert int(e.reference) == {"+": a_ + b_, "-": a_ - b_, "*": a_ * b_}[op]
        assert e.prompt == f"What is {a_} {op} {b_}? Reply with only the number."
    with pytest.raises(ConfigError, match="split 'dev'"):
        a.examples("dev")
    with pytest.raises(ConfigError, match="ops '/'"):
        tasks.make("arithmetic", ops="/")


def test_arithmetic_reward_takes_the_final_number():
    r = tasks.make("arithmetic").reward()
    assert score(r, "42", "42") == 1.0
    assert score(r, "17 + 25 equals 42.", "42") == 1.0  # the forgiving last-number parser
    assert score(r, "42 - no, 41", "42") == 0.0
    tagged = tasks.make("arithmetic", format_weight=0.5)
    assert "<answer>" in tagged.examples("test")[0].prompt
    rt = tagged.reward()
    assert score(rt, "<think>add</think><answer>42</answer>", "42") == 1.5
    assert score(rt, "42", "42") == 1.0


def test_countdown_expression_is_walked_never_evaluated():
    value, numbers = evaluate_expression("(8 - 4) * 7 - 8 / 2")
    assert value == 24 and numbers == [8, 4, 7, 8, 2]
    for bad in (
        "__import__('os').system('true')",
        "2 ** 10",
        "abs(-3)",
        "x + 1",
        "1; 2",
        "[1, 2]",
        "1.5 * 2",
    ):
        with pytest.raises(Malformed):
            evaluate_expression(bad)
    with pytest.raises(Malformed, match="division by zero"):
        evaluate_expression("4 / (2 - 2)")


def test_countdown_reward_checks_numbers_and_target():
    r = CountdownReward()
    ref = {"numbers": [4, 7, 8, 8], "target": 24}
    assert score(r, "<answer>(8 - 4) * 7 - 8 / 2</answer>", ref) == 0.0  # uses 2, not the second 8
    assert score(r, "<answer>8 * (7 + 4 - 8)</answer>", ref) == 1.0
    assert score(r, "so the answer is\n8 * (7 + 4 - 8) = 24", ref) == 1.0  # last line, '= 24' dropped
    assert score(r, "<answer>8 * (7 + 4 - 8) + 0</answer>", ref) == 0.0  # an extra number
    assert score(r, "<answer>8 * 7 - 4 * 8</answer>", ref) == 1.0  # 56 - 32
    assert score(r, "<answer>8 * 7 - 4 - 8</answer>", ref) == 0.0  # right numbers, 44
    assert score(r, "<answer>os.system</answer>", ref) == 0.0  # malformed, never executed


def test_countdown_problems_are_solvable_and_disjoint():
    t = tasks.make("countdown", num_train=40, num_test=20)
    train, test = t.examples("train"), t.examples("test")
    keys = lambda xs: {(tuple(e.reference["numbers"]), e.reference["target"]) for e in xs}  # noqa: E731
    assert not keys(train) & keys(test)
    r = t.reward()
    for e in list(train[:10]) + list(test[:10]):
        expr = solve(e.reference["numbers"], e.reference["target"])
        assert expr is not None and score(r, f"<answer>{expr}</answer>", e.reference) == 1.0
    free = tasks.make("countdown", target=0, num_train=30, num_test=10)
    assert all(solve(e.reference["numbers"], e.reference["target"]) for e in free.examples("test"))


def test_gui_actions_screens_and_reward():
    t = tasks.make("gui_actions", num_train=50, num_test=20)
    test = t.examples("test")
    assert not {e.prompt for e in t.examples("train")} & {e.prompt for e in test}
    r = t.reward()
    clicks = [e for e in test if e.reference["action"] == "click"]
    assert clicks
    for e in clicks:
        x1, y1, x2, y2 = e.reference["bbox"]
        assert str(e.reference["bbox"]) in e.prompt  # the target box is on the screen
        inside = f'<think>tap it</think><answer>[{{"action": "click", "coordinate": [{(x1 + x2) // 2}, {(y1 + y2) // 2}]}}]</answer>'
        outside = (
            f'<think>t</think><answer>[{{"action": "click", "coordinate": [{x2 + 5}, {y2 + 5}]}}]</answer>'
        )
        assert score(r, inside, e.reference) == 3.0
        assert score(r, outside, e.reference) == 2.0
    back = '<think>t</think><answer>[{"action": "navigate_back"}]</answer>'
    assert score(r, back, {"action": "navigate_back"}) == 3.0


def test_jsonl_task_and_errors_name_the_line(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"prompt": f"q{i}", "reference": str(i), "level": i % 3} for i in range(20)]
    rows.append({"messages": [{"role": "user", "content": "chat q"}], "reference": "x"})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    t = tasks.make("jsonl", path=str(path), test_fraction=0.2)
    train, test = t.examples("train"), t.examples("test")
    assert len(train) + len(test) == 21 and len(test) == 4
    assert not {e.info["line"] for e in train} & {e.info["line"] for e in test}
    ex = next(e for e in list(train) + list(test) if e.info["line"] == 3)
    assert ex.prompt == "q2" and ex.reference == "2" and ex.info["level"] == 2
    assert score(t.reward(), "2", "2") == 1.0  # exact_match by default

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\n{"reference": "b"}\n')
    with pytest.raises(RewardlabError, match=r"bad.jsonl:2: line has no 'prompt'"):
        tasks.make("jsonl", path=str(bad)).examples("train")
    bad.write_text('{"prompt": "a"}\n\n{"prompt": oops}\n')
    with pytest.raises(RewardlabError, match=r"bad.jsonl:3: not valid JSON"):
        tasks.make("jsonl", path=str(bad)).examples("train")
    with pytest.raises(RewardlabError, match="does not exist"):
        tasks.make("jsonl", path=str(tmp_path / "missing.jsonl")).examples("train")
    with pytest.raises(ConfigError, match="needs a file"):
        tasks.make("jsonl")


def test_preference_pairs_errors_name_the_line(tmp_path):
    from rewardlab.tasks.jsonl import read_preference_pairs

    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": "p", "chosen": "a"}\n')
    with pytest.raises(
        RewardlabError, match=r"pairs.jsonl:2: 'rejected' must be a string completion \(missing\)"
    ):
        read_preference_pairs(path)
