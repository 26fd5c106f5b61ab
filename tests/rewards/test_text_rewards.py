"""format_tags, exact_match, math_equiv: hand-computed tables incl. empty, malformed and unicode input."""

import time

import pytest

from rewardlab.errors import RewardlabError
from rewardlab.rewards import Sample, get


def score(name, completion, reference=None, **params):
    res = get(name, **params).score([Sample(completion=completion, reference=reference)])
    return float(res.total[0]), res


@pytest.mark.parametrize(
    "completion, params, expected",
    [
        ("<think>a</think><answer>b</answer>", {}, 1.0),
        ("<think>multi\nline</think>\n  <answer>b</answer>", {}, 1.0),
        ("<think>ünïcødé 思考</think><answer>答え</answer>", {}, 1.0),
        ("preamble <think>a</think><answer>b</answer>", {}, 0.0),
        ("<think>a</think><answer>b</answer> trailing", {}, 0.0),
        (" <think>a</think><answer>b</answer>\n", {}, 0.0),
        (" <think>a</think><answer>b</answer>\n", {"strip_whitespace": True}, 1.0),
        ("<answer>b</answer><think>a</think>", {}, 0.0),
        ("<think>a</think>", {}, 0.0),
        ("", {}, 0.0),
        ("<think>a</think><output>{}</output>", {"tags": ["think", "output"]}, 1.0),
    ],
)
def test_format_tags(completion, params, expected):
    assert score("format_tags", completion, **params)[0] == expected


@pytest.mark.parametrize(
    "completion, reference, params, expected",
    [
        ("<answer> Paris </answer>", "paris", {}, 1.0),
        ("<answer>Paris</answer>", "paris", {"case_sensitive": True}, 0.0),
        ("The capital is Paris", "the capital is   paris", {}, 1.0),
        ("<answer>Paris!</answer>", "Paris", {}, 0.0),
        ("<answer>Paris!</answer>", "Paris", {"strip_punctuation": True}, 1.0),
        ("<answer>the Eiffel tower</answer>", "Eiffel Tower", {"remove_articles": True}, 1.0),
        ("<answer>Lyon</answer>", ["Paris", "Lyon"], {}, 1.0),
        ("<answer>STRASSE</answer>", "straße", {}, 1.0),  # unicode casefold
        ("<answer>東京</answer>", "東京", {}, 1.0),
        ("<answer>Marseille</answer>", "Paris", {}, 0.0),
    ],
)
def test_exact_match(completion, reference, params, expected):
    assert score("exact_match", completion, reference, **params)[0] == expected


def test_exact_match_empty_answer_is_malformed_and_missing_reference_is_an_error():
    value, res = score("exact_match", "", "Paris")
    assert value == 0.0 and res.counts["exact_match/malformed"] == 1
    with pytest.raises(RewardlabError, match=r"'exact_match' raised ValueError: the sample has no reference.*sample 0"):
        score("exact_match", "<answer>x</answer>", None)


@pytest.mark.parametrize(
    "completion, reference, expected",
    [
        ("<answer>1/2</answer>", "0.5", 1.0),
        ("so the result is \\boxed{\\frac{3}{4}}.", "0.75", 1.0),
        ("<answer>\\boxed{\\dfrac{1}{2}}</answer>", "1/2", 1.0),
        ("we get 1,000 apples", "1000", 1.0),
        ("<answer>1,000</answer>", 1000, 1.0),
        ("<answer>$2x + 2$</answer>", "2(x+1)", 1.0),
        ("<answer>x^2 - 1</answer>", "(x-1)(x+1)", 1.0),
        ("<answer>\\sqrt{2}/2</answer>", "\\frac{1}{\\sqrt{2}}", 1.0),
        ("<answer>\\pi/2</answer>", "1.5707963267948966", 1.0),
        ("<answer>50\\%</answer>", "50", 1.0),
        ("<answer>1, 2</answer>", "1,2", 1.0),
        ("<answer>2, 1</answer>", "1,2", 0.0),
        ("<answer>3</answer>", "4", 0.0),
        ("<answer>x + 1</answer>", "x + 2", 0.0),
        ("<answer>0.333</answer>", "1/3", 0.0),
        ("The answer: -7.", "-7", 1.0),
        ("<answer>2.5e-3</answer>", "0.0025", 1.0),
        ("<answer>1/0</answer>", "1", 0.0),
    ],
)
def test_math_equiv(completion, reference, expected):
    assert score("math_equiv", completion, reference)[0] == expected


def test_math_equiv_malformed_output_scores_zero_with_reason():
    for completion in ("", "no digits at all", "<answer></answer>"):
        value, res = score("math_equiv", completion, "3")
        assert value == 0.0
        assert res.counts["math_equiv/malformed"] == 1
        assert res.notes[0].startswith("math_equiv: ")


def test_math_equiv_never_evaluates_and_bounds_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hostile = "<answer>__import__('os').system('touch pwned')</answer>"
    assert score("math_equiv", hostile, "0")[0] == 0.0
    assert not (tmp_path / "pwned").exists()
    start = time.perf_counter()
    assert score("math_equiv", "<answer>9^9^9^9</answer>", "1")[0] == 0.0
    assert score("math_equiv", "<answer>" + "1+" * 500 + "1</answer>", "501")[0] == 0.0  # over max_chars
    assert time.perf_counter() - start < 5.0


def test_math_equiv_time_limit_scores_zero_with_a_note(monkeypatch):
    from rewardlab.rewards.math_equiv import MathEquiv, _time_limit, _TimedOut

    with pytest.raises(_TimedOut):
        with _time_limit(0.05):
            while True:
                pass

    def spin(self, a, b):
        while True:
            pass

    monkeypatch.setattr(MathEquiv, "equivalent", spin)
    res = MathEquiv(time_limit=0.05).score([Sample(completion="<answer>1</answer>", reference="1")])
    assert res.total.tolist() == [0.0]
    assert res.notes == ["math_equiv: sympy comparison exceeded 0.05 s"]
    # off the main thread (no SIGALRM there) the limit holds too, and only the slow sample is hit
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(MathEquiv, "equivalent", lambda self, a, b: spin(self, a, b) if a == "2" else a == b)
    batch = [Sample(completion="<answer>1</answer>", reference="1"), Sample(completion="<answer>2</answer>", reference="2")]
    with ThreadPoolExecutor(1) as pool:
        res = pool.submit(MathEquiv(time_limit=0.2).score, batch).result(timeout=10)
    assert res.total.tolist() == [1.0, 0.0] and res.notes[1] == "math_equiv: sympy comparison exceeded 0.2 s"
