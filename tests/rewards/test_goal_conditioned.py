"""Goal-conditioned reward model: the contrastive goal term by hand, and BT + goal term learning."""

import math

import pytest
import torch

from rewardlab.rewards import Sample
from rewardlab.rewards.learned.bradley_terry import Pairs
from rewardlab.rewards.learned.goal_conditioned import GoalConditionedRM, contrastive_goal_term

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

DIGITS = "0123456789"


def test_contrastive_goal_term_by_hand():
    h_chosen = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    h_rejected = torch.tensor([[0.0, 3.0], [-1.0, 0.0]])
    # positive (0, 1): cos 1 -> sigmoid(1); negatives (0, 0): cos 0 -> 0.5 and (2, 1): cos 0 -> 0.5
    expected = 0.5 * (-math.log(1 / (1 + math.exp(-1))) - math.log(1 - 0.5))
    term = contrastive_goal_term(h_chosen, h_rejected, [(0, 1)], [(0, 0), (2, 1)], beta=0.5)
    assert term.item() == pytest.approx(expected, abs=1e-6)
    # negatives pointing the same way (cos 1) cost more than orthogonal ones
    assert (
        contrastive_goal_term(h_chosen, h_rejected, [(0, 1)], [(0, 1)]).item()
        < contrastive_goal_term(h_chosen, -h_rejected, [(0, 1)], [(0, 1)]).item()
    )


@pytest.mark.slow
def test_goal_conditioned_rm_learns_the_preference_and_lowers_its_goal_term():
    torch.set_num_threads(1)
    chosen = [f"{d}={d}" for d in DIGITS for c in DIGITS + "=" if c != d]
    rejected = [f"{d}={c}" for d in DIGITS for c in DIGITS + "=" if c != d]
    rm = GoalConditionedRM(seed=0, learning_rate=3e-3, batch_size=20, epochs=8, early_stopping=False)
    rm.fit(Pairs(chosen, rejected))
    first, last = rm.history[0], rm.history[-1]
    assert last["goal_loss"] < first["goal_loss"] and last["bt_loss"] < first["bt_loss"]
    assert last["train/accuracy"] >= 0.9
    right, wrong = rm([Sample(prompt="4=", completion="4"), Sample(prompt="4=", completion="7")])
    assert right > wrong
    q = rm.q_value(["4=", "4="], ["4=4", "zzzz"])
    assert q.shape == (2,) and (abs(q) <= 1 + 1e-6).all()
