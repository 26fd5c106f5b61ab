"""Process reward model (TRL's PRM): aggregation by hand, per-step logits at the separators, learning."""

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.rewards import Sample
from rewardlab.rewards.learned.process_reward import ProcessReward, aggregate_steps

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")


def test_aggregation_by_hand():
    probs = [0.9, 0.5, 0.8]
    assert aggregate_steps(probs, "min") == 0.5
    assert aggregate_steps(probs, "product") == pytest.approx(0.9 * 0.5 * 0.8)
    assert aggregate_steps(probs, "last") == 0.8
    assert aggregate_steps([], "min") == 0.0
    with pytest.raises(ConfigError, match="aggregation 'mean' is not one of min, product, last"):
        aggregate_steps(probs, "mean")


def test_score_is_the_aggregate_of_the_head_at_each_step_separator():
    torch.set_num_threads(1)
    prm = ProcessReward(seed=0, aggregation="product")
    sample = Sample(prompt="1=", completion="2\n34\n")  # two steps: "2" and "34"
    enc = prm.tokenizer(["1=2\n34\n"], return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        hidden = prm.model.base_model(**enc).last_hidden_state[0]
        logits = prm.head(hidden).squeeze(-1)
    seps = [i for i, t in enumerate(enc["input_ids"][0].tolist()) if t == prm.separator_id]
    assert seps == [3, 6]
    by_hand = float(torch.sigmoid(logits[seps]).prod())
    assert prm([sample])[0] == pytest.approx(by_hand, abs=1e-6)
    # in a padded batch, beside a longer sample, the score is the same
    assert prm([sample, Sample(prompt="9=", completion="1\n2\n3\n45")])[0] == pytest.approx(by_hand, abs=1e-5)
    with pytest.raises(ConfigError, match="step_separator 'ab' must be one token, it is 2"):
        ProcessReward(step_separator="ab")


@pytest.mark.slow
def test_prm_learns_which_steps_are_right_and_min_finds_the_wrong_one():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)

    def example():  # a step is right when it is an even digit
        steps = [str(d) for d in rng.integers(10, size=3)]
        return ("go:", steps, [int(int(s) % 2 == 0) for s in steps])

    train = [example() for _ in range(200)]
    prm = ProcessReward(seed=0, learning_rate=3e-3)
    prm.fit(train, steps=150)
    test = [example() for _ in range(60)]
    probs = prm.step_probabilities([Sample(prompt=p, completion="\n".join(s)) for p, s, _ in test])
    labels = np.concatenate([y for _, _, y in test])
    assert np.mean((np.concatenate(probs) > 0.5) == labels) >= 0.9
    all_right = Sample(prompt="go:", completion="2\n4\n8")
    one_wrong = Sample(prompt="go:", completion="2\n7\n8")
    assert prm([all_right])[0] > 0.5 > prm([one_wrong])[0]  # "min": one wrong step sinks the chain
