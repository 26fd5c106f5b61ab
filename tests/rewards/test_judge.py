"""UI-Genie-style yes/no judge: P("yes") and its loss by hand, a judge that learns, hard negatives."""

import math

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import Sample
from rewardlab.rewards.learned.judge import (
    Judge,
    judge_loss,
    truncated_trajectory,
    wrong_action_type,
    wrong_click,
)

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

DIGITS = "0123456789"


def test_loss_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # yes = token 0, no = token 1
    # row 0 positive: -log softmax(2, 0, 0)[0] = log(e^2 + 2) - 2; row 1 negative: log(1 + e + 1) - 1
    expected = ((math.log(math.e**2 + 2) - 2) + (math.log(2 + math.e) - 1)) / 2
    assert judge_loss(logits, torch.tensor([1, 0]), 0, 1).item() == pytest.approx(expected, abs=1e-6)


def test_reward_is_the_full_softmax_probability_of_yes_after_the_question():
    torch.set_num_threads(1)
    judge = Judge(seed=0)
    sample = Sample(prompt="3=", completion="3")
    enc = judge.tokenizer(["3=3\nCorrect? "], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        logits = judge.model(**enc).logits[0, -1]  # one unpadded row: the plain forward
    by_hand = torch.softmax(logits, -1)[judge.tokenizer("y", add_special_tokens=False)["input_ids"][0]]
    assert judge([sample])[0] == pytest.approx(float(by_hand), abs=1e-6)
    # padding does not change a row's score (left padding with position ids over real tokens)
    assert judge([sample, Sample(prompt="12=", completion="12345")])[0] == pytest.approx(
        float(by_hand), abs=1e-5
    )


@pytest.mark.slow
def test_judge_learns_to_say_yes_to_right_answers_and_no_to_hard_negatives():
    torch.set_num_threads(1)
    positives = [Sample(prompt=f"{d}=", completion=d) for d in DIGITS]
    # hard negatives: a wrong digit, and the truncated answer (nothing)
    negatives = [Sample(prompt=f"{d}=", completion=c) for d in DIGITS for c in DIGITS if c != d]
    negatives += [Sample(prompt=f"{d}=", completion="") for d in DIGITS]
    samples = positives * 10 + negatives  # balanced: 100 positives, 100 negatives
    labels = [1] * 100 + [0] * 100
    judge = Judge(seed=0, learning_rate=3e-3, question="?")
    before = judge(positives).mean() - judge(negatives).mean()
    judge.fit((samples, labels), steps=300)
    scores_pos, scores_neg = judge(positives), judge(negatives)
    assert abs(before) < 0.05
    # every right answer against every hard negative: ranked right 0.925 of the time here (0.5 before)
    assert (scores_pos[:, None] > scores_neg[None]).mean() >= 0.85
    assert scores_pos.mean() - scores_neg.mean() >= 0.3


def test_hard_negative_generators_and_bad_inputs():
    rng = np.random.default_rng(0)
    click = {"action": "click", "x": 50.0, "y": 50.0}
    assert wrong_action_type(click, ["click", "scroll"], rng) == {"action": "scroll", "x": 50.0, "y": 50.0}
    for _ in range(20):
        moved = wrong_click(click, (40, 40, 60, 60), (100, 100), rng)
        assert not (40 <= moved["x"] <= 60 and 40 <= moved["y"] <= 60) and moved["action"] == "click"
    cut = truncated_trajectory(["a", "b", "c"], rng)
    assert 1 <= len(cut) < 3 and cut == ["a", "b", "c"][: len(cut)]
    with pytest.raises(RewardlabError, match="covers the whole"):
        wrong_click(click, (0, 0, 100, 100), (100, 100), rng)
    with pytest.raises(RewardlabError, match="no strict non-empty prefix"):
        truncated_trajectory(["a"], rng)
    with pytest.raises(ConfigError, match="must start with different tokens"):
        Judge(yes="yes", no="yeah")
