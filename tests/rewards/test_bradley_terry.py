"""Bradley-Terry reward models: TRL's loss, last-token scoring, calibrated accuracy, over-fitting, best-of-N."""

import json
import math
import time
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rewardlab.errors import RewardlabError
from rewardlab.rewards import Sample, bradley_terry_loss
from rewardlab.rewards.learned.bradley_terry import BradleyTerry, last_token_index
from rewardlab.rewards.learned.preferences import read_preference_pairs
from rewardlab.rewards.learned.synthetic import SyntheticPreferences
from rewardlab.rewards.selection import best_of_n, best_of_n_kl


def test_loss_by_hand_with_margin_and_centring():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0])
    # -(log sigmoid(2) + log sigmoid(0)) / 2 = (0.126928 + 0.693147) / 2
    assert bradley_terry_loss(chosen, rejected).item() == pytest.approx(0.4100378, abs=1e-6)
    # margin 1: -(log sigmoid(1) + log sigmoid(-1)) / 2 = (0.3132617 + 1.3132617) / 2
    assert bradley_terry_loss(chosen, rejected, margin=torch.tensor([1.0, 1.0])).item() == pytest.approx(
        0.8132617, abs=1e-6
    )
    # centring 0.1 * mean((2 + 0)^2, (0 + 0)^2) = 0.1 * 2 = 0.2 on top
    assert bradley_terry_loss(chosen, rejected, center_rewards_coefficient=0.1).item() == pytest.approx(
        0.6100378, abs=1e-6
    )


@pytest.mark.parametrize("margin", [False, True])
@pytest.mark.parametrize("center", [None, 0.01])
def test_loss_equals_trl_reward_trainer_compute_loss(margin, center):
    reward_trainer = pytest.importorskip("trl.trainer.reward_trainer")
    torch.manual_seed(0)
    chosen, rejected = torch.randn(8), torch.randn(8)
    margins = torch.rand(8) if margin else None
    # TRL's own method with a stand-in self; its "model" returns the chosen-then-rejected logits
    logits = torch.cat([chosen, rejected]).unsqueeze(-1)
    stand_in = SimpleNamespace(
        model=SimpleNamespace(training=False),
        args=SimpleNamespace(center_rewards_coefficient=center),
        accelerator=SimpleNamespace(gather=lambda t: t, gather_for_metrics=lambda t: t),
        _metrics=defaultdict(lambda: defaultdict(list)),
        _total_train_tokens=0,
        _tp_size=1,
    )
    inputs = {"input_ids": torch.zeros(16, 3, dtype=torch.long), "attention_mask": torch.ones(16, 3)}
    if margin:
        inputs["margin"] = margins
    model = lambda **kw: SimpleNamespace(logits=logits)  # noqa: E731
    theirs = reward_trainer.RewardTrainer.compute_loss(stand_in, model, inputs)
    ours = bradley_terry_loss(chosen, rejected, margin=margins, center_rewards_coefficient=center)
    assert torch.allclose(ours, theirs, atol=1e-7, rtol=0)


def test_last_token_index_for_left_and_right_padding():
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    left = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]])
    assert last_token_index(right).tolist() == [2, 3, 0]
    assert last_token_index(left).tolist() == [3, 3, 3]


def test_tiny_llama_score_is_the_same_for_left_and_right_padding():
    rm = BradleyTerry("tiny-random-llama", seed=0)
    samples = [
        Sample(prompt="2+2=", completion="4"),
        Sample(prompt="What is 10 + 15? ", completion="twenty-five"),
    ]
    rm.net.tokenizer.padding_side = "left"
    left = rm(samples)
    rm.net.tokenizer.padding_side = "right"
    right = rm(samples)
    alone = [rm([s])[0] for s in samples]  # no padding at all
    assert np.allclose(left, right, atol=1e-5) and np.allclose(left, alone, atol=1e-5)
    assert abs(left[0] - left[1]) > 1e-4  # different texts, different scores


def test_tiny_llama_reward_model_learns_a_preference_from_a_jsonl_file(tmp_path):
    rows = [{"prompt": f"{a}+{a}=", "chosen": str(2 * a), "rejected": str(2 * a + 1)} for a in range(10, 40)]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    pairs = read_preference_pairs(path)
    rm = BradleyTerry(
        "tiny-random-llama", seed=0, learning_rate=3e-3, batch_size=10, epochs=4, early_stopping=False
    )
    before = rm.pairwise_accuracy(pairs)
    rm.fit(pairs)
    assert rm.history[-1]["loss"] < rm.history[0]["loss"]
    assert rm.pairwise_accuracy(pairs) >= 0.9 and before < 0.9


def _bad(tmp_path, lines):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    return path


def test_preference_file_errors_name_the_line(tmp_path):
    ok = {"prompt": "p", "chosen": "a", "rejected": "b"}
    with pytest.raises(RewardlabError, match=r"bad.jsonl:2: no 'rejected' field"):
        read_preference_pairs(_bad(tmp_path, [ok, {"prompt": "p", "chosen": "a"}]))
    with pytest.raises(RewardlabError, match=r"bad.jsonl:1: 'chosen' is empty"):
        read_preference_pairs(_bad(tmp_path, [{"chosen": " ", "rejected": "b"}]))
    with pytest.raises(RewardlabError, match=r"bad.jsonl:3: duplicate of the pair on line 1"):
        read_preference_pairs(_bad(tmp_path, [ok, {**ok, "prompt": "q"}, ok]))
    with pytest.raises(RewardlabError, match=r"bad.jsonl:1: 'chosen' and 'rejected' are the same text"):
        read_preference_pairs(_bad(tmp_path, [{"chosen": "a", "rejected": "a"}]))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(RewardlabError, match="holds no pairs"):
        read_preference_pairs(tmp_path / "empty.jsonl")


TASK = SyntheticPreferences()


@pytest.mark.slow
def test_accuracy_within_006_of_the_bayes_bound_in_under_10s():
    # research note E1: beta 1, 4000 pairs, MLP 64-64, AdamW 1e-3 wd 1e-2, batch 64, centring 0.01,
    # early stopping on 1000 validation pairs; tested on 5000 fresh pairs
    test = TASK.pairs(5000, beta=1.0, seed=2)
    rm = BradleyTerry(seed=0)
    start = time.process_time()
    rm.fit(TASK.pairs(4000, beta=1.0, seed=1), val=TASK.pairs(1000, beta=1.0, seed=3))
    assert time.process_time() - start < 10
    bayes = TASK.bayes_accuracy(test)
    assert 0.7 < bayes < 0.85  # noisy labels: even the true reward gets only this many right
    assert rm.pairwise_accuracy(test) >= bayes - 0.06
    assert rm.history[rm.best_epoch]["eval/accuracy"] == max(r["eval/accuracy"] for r in rm.history)


@pytest.mark.slow
def test_over_trained_model_shows_the_train_test_gap_in_its_logged_metrics():
    train, test = TASK.pairs(250, beta=1.0, seed=1), TASK.pairs(2000, beta=1.0, seed=2)
    over = BradleyTerry(seed=0, weight_decay=1e-4, epochs=200, early_stopping=False)
    last = over.fit(train, val=test)
    assert last["train/accuracy"] - last["eval/accuracy"] >= 0.2
    # the control: the early-stopped model on the same data does not show it
    stopped = BradleyTerry(seed=0, epochs=20).fit(train, val=test)
    assert stopped["train/accuracy"] - stopped["eval/accuracy"] < 0.2


def test_scoring_changes_nothing_and_state_round_trips():
    rm = BradleyTerry(seed=0, epochs=1)
    rm.fit(TASK.pairs(256, beta=1.0, seed=1))
    samples = [Sample(info={"features": x}) for x in TASK.pairs(8, 1.0, seed=5).chosen]
    state = rm.state_dict()
    first = rm(samples)
    assert repr(rm.state_dict()) == repr(state)  # weights, optimizer, generators untouched by scoring
    clone = BradleyTerry(seed=7)
    clone.load_state_dict(state)
    assert clone(samples).tolist() == first.tolist()
    # and the generators continue identically: one more update on each gives the same weights
    batch = TASK.pairs(64, 1.0, seed=6)
    rm.update(batch), clone.update(batch)
    assert clone(samples).tolist() == rm(samples).tolist()


def test_mlp_reward_model_names_a_sample_without_features():
    rm = BradleyTerry(seed=0)
    with pytest.raises(RewardlabError, match="sample 1 has none"):
        rm([Sample(info={"features": np.zeros(16)}), Sample(completion="text")])


def test_best_of_n_argmax_softmax_and_logged_kl():
    scores = {"a": 1.0, "b": 3.0, "c": 2.0, "d": 0.0}
    reward = lambda items: [scores[i] for i in items]  # noqa: E731
    out = best_of_n([["a", "b", "c"], ["d", "a", "c"]], reward, n=3)
    assert out.chosen == ["b", "c"]
    assert out.metrics["best_of_n/chosen_score"] == 2.5
    assert out.metrics["best_of_n/gap_to_runner_up"] == 1.0  # (3 - 2 + 2 - 1) / 2
    assert out.metrics["best_of_n/kl"] == pytest.approx(math.log(3) - 2 / 3)
    assert best_of_n_kl(1) == 0.0
    soft = best_of_n([["a", "b"]] * 20000, reward, n=2, select="softmax", rng=np.random.default_rng(0))
    # P(b) = e^3 / (e^1 + e^3) = 0.8808
    assert np.mean(soft.index == 1) == pytest.approx(0.8808, abs=0.01)


@pytest.mark.slow
def test_best_of_16_with_the_learned_reward_model_succeeds_where_a_random_pick_does_not():
    # research note E2: RM from 1000 pairs at beta 1 (4 epochs); success = true reward above the
    # 80th percentile of single samples, so a random pick succeeds about 20 % of the time
    rm = BradleyTerry(seed=0, epochs=4, early_stopping=False)
    rm.fit(TASK.pairs(1000, beta=1.0, seed=1))
    cands = TASK.candidates(2000, 16, seed=4)
    threshold = np.quantile(TASK.true_reward(cands[:, 0]), 0.8)
    samples = [[Sample(info={"features": x}) for x in row] for row in cands]
    picked = best_of_n(samples, rm, n=16)
    picked_true = TASK.true_reward(np.stack([s.info["features"] for s in picked.chosen]))
    random_true = TASK.true_reward(cands[np.arange(2000), np.random.default_rng(0).integers(16, size=2000)])
    assert np.mean(picked_true > threshold) >= 0.7
    assert np.mean(random_true > threshold) == pytest.approx(0.2, abs=0.04)
    assert picked.metrics["best_of_n/kl"] == pytest.approx(math.log(16) - 15 / 16)


def test_saved_reward_model_loads_without_the_run_and_scores_the_same(tmp_path):
    rm = BradleyTerry(seed=0, epochs=1, hidden_sizes=(8,))
    rm.fit(TASK.pairs(128, beta=1.0, seed=1))
    samples = [Sample(info={"features": x}) for x in TASK.pairs(4, 1.0, seed=5).chosen]
    rm.save(tmp_path / "rm")
    assert BradleyTerry.load(tmp_path / "rm")(samples).tolist() == rm(samples).tolist()
    with pytest.raises(RewardlabError, match="does not hold reward_model.json and reward_model.pt"):
        BradleyTerry.load(tmp_path / "missing")
    with pytest.raises(
        RewardlabError, match=r"weights do not fit a 'mlp' backbone with in_dim 16, hidden_sizes \[4\]"
    ):
        BradleyTerry.load(tmp_path / "rm", hidden_sizes=(4,))


def test_public_names_are_the_functions():
    import rewardlab.rewards as rewards

    assert callable(rewards.best_of_n) and rewards.best_of_n.__name__ == "best_of_n"
    assert rewards.bradley_terry_loss is bradley_terry_loss
