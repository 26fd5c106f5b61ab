"""DPO's implicit reward beta * (log pi - log pi_ref): by hand, equal to what rewardlab's DPO logs for
the same pairs, and loadable from a DPO run directory by name."""

import pytest
import torch
from conftest import DIGITS, tiny_policy

from rewardlab import api
from rewardlab.errors import RewardlabError
from rewardlab.llm.dpo import DPO, DPOConfig
from rewardlab.rewards import Sample, get
from rewardlab.rewards.learned.implicit_dpo import ImplicitDPOReward, implicit_dpo_reward

pytest.importorskip("peft", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

PAIRS = [{"prompt": f"{d}=", "chosen": d, "rejected": DIGITS[(int(d) + 3) % 10]} for d in DIGITS]


def test_implicit_reward_by_hand():
    logp = torch.tensor([[-1.0, -2.0, -0.5], [-0.1, -0.2, -9.0]])
    ref = torch.tensor([[-1.5, -1.0, -0.5], [-0.3, -0.2, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])  # the last token of row 1 is padding
    # row 0: 0.1 * (0.5 - 1.0 + 0) = -0.05; row 1: 0.1 * (0.2 + 0) = 0.02
    assert implicit_dpo_reward(logp, ref, mask, 0.1).tolist() == pytest.approx([-0.05, 0.02])


def test_equals_the_rewards_dpo_logs_and_is_zero_before_training():
    cfg = DPOConfig(data="<in memory>", num_threads=1, lora_r=4, learning_rate=1e-2, batch_size=10,
                    max_completion_length=4, max_prompt_length=8, total_steps=5)  # fmt: skip
    algo = DPO(cfg, policy=tiny_policy(cfg), pairs=PAIRS)
    reward = ImplicitDPOReward(algo.policy, cfg.beta, max_completion_length=cfg.max_completion_length)
    chosen = [Sample(prompt=p["prompt"], completion=p["chosen"]) for p in PAIRS]
    rejected = [Sample(prompt=p["prompt"], completion=p["rejected"]) for p in PAIRS]
    assert reward(chosen).tolist() == [0.0] * 10  # the policy is its reference before any update
    for _ in range(5):
        metrics = algo.step()
    logp_chosen, logp_rejected = algo.pair_logprobs(PAIRS, grad=False)
    theirs_chosen = cfg.beta * (logp_chosen - algo.ref_chosen)  # what dpo_loss returns as chosen_rewards
    theirs_rejected = cfg.beta * (logp_rejected - algo.ref_rejected)
    assert torch.allclose(torch.as_tensor(reward(chosen)), theirs_chosen.double(), atol=1e-5)
    assert torch.allclose(torch.as_tensor(reward(rejected)), theirs_rejected.double(), atol=1e-5)
    assert metrics["rewards/margins"] > 0 and (reward(chosen) > reward(rejected)).mean() >= 0.9


def test_loaded_from_a_dpo_run_by_name(tmp_path):
    data = tmp_path / "pairs.jsonl"
    import json

    data.write_text("\n".join(json.dumps(p) for p in PAIRS) + "\n")
    run = api.train("dpo", model="tiny-random-llama", out=tmp_path / "dpo", data=str(data), lora_r=4, total_steps=2,
                    batch_size=4, max_completion_length=4, max_prompt_length=8, learning_rate=1e-2, num_threads=1,
                    eval_episodes=1, progress=False)  # fmt: skip
    reward = get("implicit_dpo", run=str(run.dir))
    assert reward.beta == 0.1 and reward.name == "implicit_dpo"
    values = reward([Sample(prompt="3=", completion="3"), Sample(prompt="3=", completion="6")])
    assert values[0] != values[1] and all(abs(v) < 10 for v in values)
    with pytest.raises(
        RewardlabError, match=r"run '.*nowhere' is not a run directory; give run = 'runs/dpo'"
    ):
        get("implicit_dpo", run=str(tmp_path / "nowhere"))
