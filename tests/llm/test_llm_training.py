"""GRPO / RLOO / DPO on a tiny random Llama: they learn, resume bit for bit, and report metrics."""

import math

import numpy as np
import pytest
import torch
from _resume import assert_same_state, without_timing
from conftest import DIGITS, CopyDigit, tiny_policy

from rewardlab.errors import RewardlabError
from rewardlab.llm.dpo import DPO, DPOConfig
from rewardlab.llm.grpo import GRPO, GRPOConfig
from rewardlab.llm.rloo import RLOO, RLOOConfig
from rewardlab.rewards.base import reward as make_reward

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")
pytest.importorskip("peft", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

TOY = dict(
    env="",
    num_threads=1,
    batch_size=8,
    num_generations=8,
    max_completion_length=2,
    max_prompt_length=8,
    micro_batch_size=64,
    lr_scheduler="constant",
    lora_r=0,
    total_steps=150,
)


def train_until(algo, threshold, max_steps):
    history = []
    for _ in range(max_steps):
        m = algo.step()
        history.append(m["reward"])
        if len(history) >= 3 and np.mean(history[-3:]) > threshold:
            break
    return history


def test_grpo_learns_copy_digit(copy_task):
    cfg = GRPOConfig(**TOY, learning_rate=1e-3)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
    history = train_until(algo, 0.8, 150)
    assert np.mean(history[:3]) < 0.25  # chance: 1 in 12 tokens
    assert np.mean(history[-3:]) > 0.8, history[-10:]
    assert algo.evaluate(10)["accuracy"] >= 0.9  # greedy on the 10 digits
    assert algo.global_step == len(history)  # global_step counts optimizer steps


def test_rloo_learns_copy_digit(copy_task):
    cfg = RLOOConfig(**TOY, learning_rate=1e-3)
    algo = RLOO(cfg, policy=tiny_policy(cfg), task=copy_task)
    history = train_until(algo, 0.8, 150)
    assert np.mean(history[:3]) < 0.25
    assert np.mean(history[-3:]) > 0.8, history[-10:]
    assert "kl" in algo.step()  # beta 0.05 by default: the k1 penalty is measured and logged


def test_dpo_raises_chosen_margin():
    pairs = [{"prompt": f"{d}=", "chosen": d, "rejected": str((int(d) + 1) % 10)} for d in DIGITS]
    cfg = DPOConfig(
        data="<in memory>",
        num_threads=1,
        lora_r=0,
        learning_rate=1e-3,
        batch_size=10,
        lr_scheduler="constant",
        max_prompt_length=8,
        total_steps=20,
    )
    algo = DPO(cfg, policy=tiny_policy(cfg), pairs=pairs)
    before = algo.evaluate(0)
    assert before["margin"] == pytest.approx(0.0, abs=1e-6)  # the policy starts as the reference
    first = algo.step()
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5)
    for _ in range(19):
        algo.step()
    after = algo.evaluate(0)
    assert after["margin"] > 0.5 and after["preference_accuracy"] == 1.0


def _run(algo_cls, cfg, task, steps, seed_policy=0):
    algo = algo_cls(cfg, policy=tiny_policy(cfg, seed=seed_policy), task=task)
    return algo, [algo.step() for _ in range(steps)]


@pytest.mark.parametrize("lora_r", [0, 4])
def test_grpo_resume_is_bit_identical(copy_task, lora_r, tmp_path):
    # mu = 2 (a stored rollout with old log-probs spans the checkpoint), beta > 0 (reference pass)
    cfg = GRPOConfig(
        **{**TOY, "lora_r": lora_r, "total_steps": 6}, learning_rate=1e-3, num_iterations=2, beta=0.04
    )
    straight_algo, straight = _run(GRPO, cfg, copy_task, 6)
    first, metrics = _run(GRPO, cfg, copy_task, 3)
    path = tmp_path / "ckpt.pt"
    torch.save(first.state_dict(), path)
    # a fresh process rebuilds the policy from the config (same base weights, hence same reference);
    # scramble the trainable weights to prove the checkpoint restores them
    resumed = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
    with torch.no_grad():
        for p in resumed.policy.trainable_parameters():
            p.add_(torch.randn_like(p))
    torch.manual_seed(123)  # the checkpoint restores the RNG, whatever happened before
    resumed.load_state_dict(torch.load(path, weights_only=False))
    metrics += [resumed.step() for _ in range(3)]
    assert without_timing(metrics) == without_timing(straight)
    assert_same_state(resumed.policy.trainable_state_dict(), straight_algo.policy.trainable_state_dict())
    assert "kl" in straight[0] and straight[0]["kl"] >= 0.0


def test_dpo_resume_is_bit_identical(tmp_path):
    pairs = [{"prompt": f"{d}=", "chosen": d, "rejected": str((int(d) + 3) % 10)} for d in DIGITS]
    cfg = DPOConfig(
        data="<mem>", num_threads=1, lora_r=4, learning_rate=1e-3, batch_size=4, max_prompt_length=8
    )
    straight = DPO(cfg, policy=tiny_policy(cfg), pairs=pairs)
    ms = [straight.step() for _ in range(4)]
    first = DPO(cfg, policy=tiny_policy(cfg), pairs=pairs)
    rs = [first.step() for _ in range(2)]
    torch.save(first.state_dict(), tmp_path / "c.pt")
    resumed = DPO(cfg, policy=tiny_policy(cfg), pairs=pairs)
    with torch.no_grad():
        for p in resumed.policy.trainable_parameters():
            p.add_(torch.randn_like(p))
    resumed.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=False))
    rs += [resumed.step() for _ in range(2)]
    assert without_timing(rs) == without_timing(ms)


def test_step_metrics_and_samples(copy_task):
    cfg = GRPOConfig(**TOY, learning_rate=1e-3)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
    m = algo.step()
    for key in (
        "reward",
        "reward/copy",
        "loss",
        "clip_fraction",
        "grad_norm",
        "tokens_per_second",
        "completion_length",
        "frac_reward_zero_std",
        "lr",
        "num_threads",
    ):
        assert key in m and math.isfinite(m[key]), key
    rows = algo.latest_samples(3)
    assert len(rows) == 3 and rows[0]["step"] == 1
    assert rows[0]["prompt"] in [f"{d}=" for d in DIGITS]
    assert rows[0]["reward"] == (1.0 if rows[0]["completion"][:1] == rows[0]["reference"] else 0.0)


def test_grpo_dynamic_sampling_keeps_only_informative_groups(copy_task):
    cfg = GRPOConfig(**TOY, learning_rate=1e-3, dynamic_sampling=True)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
    keep = algo.keep_groups(torch.tensor([1.0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0]))
    assert keep.tolist() == [False, True]
    m = algo.step()
    kept = int(m["dynamic_sampling/kept_groups"])
    assert 1 <= m["dynamic_sampling/batches"] <= 1 + algo.max_resample_batches
    grouped = algo.rollout.advantages.view(-1, cfg.num_generations)
    assert len(grouped) == kept and (grouped.abs().sum(1) > 0).all()  # no all-equal group was kept


def test_grpo_overlong_penalty_gspo_cispo_options_run(copy_task):
    cfg = GRPOConfig(
        **{**TOY, "max_completion_length": 4},
        learning_rate=1e-3,
        overlong_buffer=2,
        importance_sampling_level="sequence",
        loss_type="cispo",
        epsilon_high=5.0,
    )
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
    m = algo.step()
    lengths = algo.rollout.batch.completion_mask.sum(1).float()
    from rewardlab.llm.grpo import overlong_penalty

    assert m["overlong_penalty"] == pytest.approx(float(overlong_penalty(lengths, 4, 2).mean()))
    assert math.isfinite(m["loss"]) and m["clip_fraction"] == 0.0  # on-policy: ratio 1, nothing clipped


class _Broken(CopyDigit):
    def __init__(self, how):
        super().__init__()
        self.how = how

    def default_reward(self):
        how = self.how

        class Bad:
            name = "bad_reward"

            def score(self, samples):
                from rewardlab.rewards.base import RewardResult

                values = np.zeros(len(samples) - 1) if how == "count" else np.full(len(samples), np.nan)
                return RewardResult("bad_reward", values)

        return Bad()


@pytest.mark.parametrize("how, match", [("count", "returned 63 values for 64"), ("nan", "returned nan")])
def test_bad_reward_is_an_error_naming_it(how, match):
    cfg = GRPOConfig(**TOY)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=_Broken(how))
    with pytest.raises(RewardlabError, match=f"bad_reward.*{match}"):
        algo.step()


def test_reward_exception_names_the_reward(copy_task):
    @make_reward(name="explodes")
    def explodes(sample):
        raise KeyError("oops")

    cfg = GRPOConfig(**TOY)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task, reward=explodes)
    with pytest.raises(RewardlabError, match="explodes"):
        algo.step()


def test_records_for_samples_jsonl_and_truncation_warnings(copy_task):
    cfg = GRPOConfig(**{**TOY, "max_prompt_length": 1}, samples_every=2, samples_per_log=3)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
    algo.step()
    assert algo.pop_records() == {}  # step 1: not a multiple of samples_every
    assert algo.pop_warnings() == [
        "8 prompt(s) longer than max_prompt_length=1 tokens were truncated from the left (8 so far); "
        'raise max_prompt_length or set prompt_truncation = "error"'
    ]
    assert algo.pop_warnings() == []
    algo.step()
    rows = algo.pop_records()["samples"]
    assert len(rows) == 3 and all(r["step"] == 2 for r in rows)
    assert set(rows[0]) >= {"prompt", "completion", "reward", "reference", "components"}


def test_num_iterations_reuses_the_batch_with_stored_old_logprobs(copy_task):
    cfg = GRPOConfig(**TOY, learning_rate=1e-2, num_iterations=3, epsilon=0.01)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
    m1 = algo.step()
    rollout = algo.rollout
    assert rollout.old_logprobs is not None and m1["clip_fraction"] == 0.0  # first pass: ratio 1
    m2 = algo.step()
    assert algo.rollout is rollout and m2["reward"] == m1["reward"] and "time/generate" not in m2
    assert m2["clip_fraction"] > 0.0  # after an update the ratios moved past 1 +- 0.01 and are clipped
    algo.step()
    algo.step()
    assert algo.rollout is not rollout and algo.global_step == 4  # mu = 3 passes, then a new batch


@pytest.mark.parametrize("loss_type", ["dapo", "grpo"])
def test_shared_prompt_update_equals_the_plain_one(copy_task, loss_type):
    runs = {}
    for share in (True, False):
        cfg = GRPOConfig(
            **{**TOY, "micro_batch_size": 16}, learning_rate=1e-3, share_prompt=share, loss_type=loss_type
        )
        algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
        runs[share] = (algo.step(), algo.policy.trainable_state_dict())
    (m_shared, w_shared), (m_plain, w_plain) = runs[True], runs[False]
    assert m_shared["reward"] == m_plain["reward"]  # the same samples
    assert m_shared["grad_norm"] == pytest.approx(m_plain["grad_norm"], rel=1e-4)
    for k in w_plain:
        torch.testing.assert_close(w_shared[k], w_plain[k], atol=1e-5, rtol=1e-4)  # one Adam step


def test_hacking_monitor_scores_the_true_reward_and_warns_through_the_run_hooks(copy_task):
    from rewardlab.rewards.base import Sample

    cfg = GRPOConfig(**{**TOY, "total_steps": 5}, learning_rate=1e-3, true_reward="exact_match",
                     hacking_window=3, hacking_min_correlation=0.5)  # fmt: skip
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)
    metrics = algo.step()
    assert 0.0 <= metrics["true_reward"] <= 1.0  # exact_match scored on the same completions
    # Three steps where the proxy rises while exact_match on the same samples falls.
    algo.hacking.history.clear()
    for step, (proxy, hits) in enumerate([([0.2, 0.2], 2), ([0.6, 0.6], 1), ([1.0, 1.0], 0)]):
        algo._last_samples = [Sample(prompt="", completion="7" if i < hits else "x", reference="7") for i in range(2)]
        algo.global_step = step
        out = {}
        algo.monitor_hacking(np.array(proxy), out)
        assert out["true_reward"] == hits / 2
    warnings = algo.pop_warnings()
    assert any("divergence" in w and "rises" in w for w in warnings), warnings
    assert any("low_correlation" in w for w in warnings), warnings
    assert algo.pop_warnings() == []  # each warning is reported once
