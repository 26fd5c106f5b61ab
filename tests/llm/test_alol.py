"""A-LoL: the loss and its variants by hand, priority sampling, and on a tiny LM with half the
responses corrupted: A-LoL's greedy reward beats NLL fine-tuning on the same data."""

import math

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.llm import alol

LOGP = torch.tensor([[-1.0, -1.0], [-2.0, 0.0]])
REF = torch.tensor([[-1.5, -1.0], [-1.0, 0.0]])
MASK = torch.tensor([[1, 1], [1, 0]])
R, V = torch.tensor([1.0, 0.2]), torch.tensor([0.4, 0.5])


def loss(variant="a_lol", **kw):
    return float(alol.alol_loss(LOGP, REF, MASK, R, V, variant=variant, **kw))


def test_alol_loss_and_variants_by_hand():
    # summed NLL 2 and 2; sequence ratios exp(0.5) and exp(-1); A = (0.6, max(-0.3, 0) = 0)
    e = math.exp
    assert loss() == pytest.approx(2 * e(0.5) * 0.6 / 2)
    assert loss(clamp_advantage=False) == pytest.approx((2 * e(0.5) * 0.6 - 2 * e(-1) * 0.3) / 2)
    assert loss(ppo_clip=0.5) == pytest.approx(2 * 1.5 * 0.6 / 2)  # ratio clamped to 1 + 0.5
    assert loss("a_lol_ref_free") == pytest.approx(2 * 0.6 / 2)
    assert loss("r_lol") == pytest.approx((2 * e(0.5) * 1.0 + 2 * e(-1) * 0.2) / 2)
    assert loss("wbc") == pytest.approx((2 * 1.0 + 2 * 0.2) / 2)
    assert loss("a_lol_seq") == pytest.approx((1 * e(0.5) + 1 * e(0.0)) * 0.6 / 2)  # per-token ratios
    assert loss("a_lol_kl", kl_beta=0.2) == pytest.approx(0.6 + 0.2 * (0.5 - 1.0) / 2)
    with pytest.raises(ConfigError, match="variant 'ppo'"):
        loss("ppo")


def test_alol_ratio_is_a_constant_weight():
    logp = LOGP.clone().requires_grad_(True)
    alol.alol_loss(logp, REF, MASK, R, V).backward()
    # d/d logp_t of mean(sum_t -logp_t * IS * A) with IS detached: -IS * A / B on real tokens
    g = -math.exp(0.5) * 0.6 / 2
    assert logp.grad.flatten().tolist() == pytest.approx([g, g, 0.0, 0.0])


def test_priority_sampling_never_draws_non_positive_advantages():
    p = alol.priority_probabilities(np.array([0.5, -1.0, 0.0, 1.5]))
    assert p.tolist() == pytest.approx([0.25, 0.0, 0.0, 0.75])
    draws = np.random.default_rng(0).choice(4, size=2000, p=p)
    assert set(draws.tolist()) == {0, 3}
    with pytest.raises(ConfigError, match="positive advantage"):
        alol.priority_probabilities(np.array([-1.0, 0.0]))


# ---------------------------------------------------------------------------------------------
# Behaviour: prompts "d=" (10 digits), the right answer (7 d + 3) mod 10 with reward 1, and as many
# corrupted answers (right + 5) mod 10 with reward 0. NLL fits both equally and its greedy answer
# is a coin flip per prompt; A-LoL keeps only what beats the reference's value.


def _setup():
    from rewardlab.llm.tiny import tiny_llama

    model, tok = tiny_llama("0123456789=", hidden_size=32, num_layers=1, num_heads=2, seed=0)
    digit = {d: tok(str(d), add_special_tokens=False)["input_ids"][0] for d in range(10)}
    right = {d: (7 * d + 3) % 10 for d in range(10)}
    rows, rewards = [], []
    for d in range(10):
        prompt = tok(f"{d}=", add_special_tokens=False)["input_ids"]
        for answer, r in ((right[d], 1.0), ((right[d] + 5) % 10, 0.0)):
            rows.append(prompt + [digit[answer], 1])  # response: one digit, then <eos> (id 1)
            rewards.append(r)
    return model, torch.tensor(rows), torch.tensor(rewards), digit, right


def _token_logps(model, ids):
    logits = model(input_ids=ids).logits[:, 1:-1].float()  # positions 1, 2 predict tokens 2, 3
    return torch.log_softmax(logits, -1).gather(-1, ids[:, 2:, None]).squeeze(-1)


@torch.no_grad()
def _greedy_reward(model, ids, digit, right):
    first = model(input_ids=ids[::2, :2]).logits[:, -1].argmax(-1)  # one row per prompt
    return float(np.mean([int(first[d]) == digit[right[d]] for d in range(10)]))


def _train(model, ids, weights_fn, steps, lr=3e-3, batch=16, probs=None, seed=0):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = torch.from_numpy(rng.choice(len(ids), size=batch, p=probs))
        loss = weights_fn(_token_logps(model, ids[idx]), idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_alol_beats_nll_on_half_corrupted_data():
    """Measured here (seed 0; 80 NLL steps for the reference, then 40 steps per arm): greedy reward
    reference 0.5, NLL 0.5, A-LoL 1.0, A-LoL without the A >= 0 clamp 0.8. About 14 s of CPU."""
    import copy

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model, ids, rewards, digit, right = _setup()
    mask = torch.ones(len(ids), 2)
    nll = lambda logp, idx: -(logp.sum(1)).mean()  # noqa: E731
    reference = _train(model, ids, nll, 80)  # the reference: NLL on every example (BC)
    ref_reward = _greedy_reward(reference, ids, digit, right)
    with torch.no_grad():
        ref_logps = _token_logps(reference, ids)
        states = reference(input_ids=ids[:, :2], output_hidden_states=True).hidden_states[-1][:, -1]
        # V_ref from the reference's own samples: their mean reward per prompt is what V estimates
        probs = torch.softmax(reference(input_ids=ids[:, :2]).logits[:, -1], -1)
        samples = torch.multinomial(probs, 8, replacement=True, generator=torch.Generator().manual_seed(0))
        sample_rewards = torch.tensor([[float(int(s) == digit[right[i // 2]]) for s in row] for i, row in
                                       enumerate(samples)]).mean(1)  # fmt: skip
    values = alol.fit_value_head(states, sample_rewards)(states).detach()
    adv = alol.advantages(rewards, values)
    assert (adv[rewards == 0] == 0).all() and (adv[rewards == 1] > 0).all()

    def alol_arm(clamp):
        def fn(logp, idx):
            return alol.alol_loss(logp, ref_logps[idx], mask[idx], rewards[idx], values[idx],
                                  clamp_advantage=clamp)  # fmt: skip

        probs = alol.priority_probabilities(adv.numpy()) if clamp else None
        return _greedy_reward(_train(copy.deepcopy(reference), ids, fn, 40, probs=probs), ids, digit, right)

    scores = {
        "reference": ref_reward,
        "nll": _greedy_reward(_train(copy.deepcopy(reference), ids, nll, 40), ids, digit, right),
        "a_lol": alol_arm(True),
        "no_clamp": alol_arm(False),
    }
    assert scores["a_lol"] >= 0.9, scores
    assert scores["nll"] <= 0.7 and scores["a_lol"] >= scores["nll"] + 0.3, scores
    assert scores["no_clamp"] <= scores["a_lol"], scores


# ---------------------------------------------------------------------------------------------
# `rewardlab train a-lol`: the algorithm inside the Run, on the same half-corrupted digit map


class _DigitMap:
    """Prompts "d=" with reference answer (7 d + 3) mod 10, both splits the same ten problems."""

    name = "digit-map"

    def examples(self, split="train"):
        from rewardlab.tasks.base import Example

        return [Example(prompt=f"{d}=", reference=str((7 * d + 3) % 10)) for d in range(10)]

    def reward(self):
        from rewardlab.tasks.base import build_reward

        return build_reward("exact_match")


def _scored_file(path, rewards_of_corrupted=0.0, rewards_of_right=1.0):
    import json

    rows = []
    for d in range(10):
        right = (7 * d + 3) % 10
        rows.append({"prompt": f"{d}=", "response": str(right), "reward": rewards_of_right})
        rows.append({"prompt": f"{d}=", "response": str((right + 5) % 10), "reward": rewards_of_corrupted})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _nll_reference():
    """The tiny LM after 80 NLL steps on both answers of every prompt (the SFT reference: greedy 0.5)."""
    model, ids, rewards, digit, right = _setup()
    return _train(model, ids, lambda logp, idx: -(logp.sum(1)).mean(), 80), (ids, digit, right)


def _alol_run(tmp_path, model, data, **overrides):
    from rewardlab.llm.alol import ALoL, ALoLConfig
    from rewardlab.llm.policy import Policy
    from rewardlab.llm.tiny import char_tokenizer

    cfg = ALoLConfig(env="digit-map", data=str(data), model="tiny-random-llama", lora_r=0, num_threads=1,
                     learning_rate=3e-3, max_grad_norm=10.0, batch_size=16, micro_batch_size=16,
                     max_prompt_length=8, max_completion_length=2, use_chat_template=False, value_prompts=10,
                     total_steps=40, check_memory=False, **overrides)  # fmt: skip
    return ALoL(cfg, policy=Policy(model, char_tokenizer("0123456789="), cfg), task=_DigitMap())


def test_alol_algorithm_beats_nll(tmp_path):
    """The registered algorithm (V_ref from the reference's greedy answers, priority sampling) on the
    same data as above: greedy reward >= 0.9, where the same class doing NLL (wbc with every reward 1,
    i.e. plain likelihood) stays near the reference's 0.5. About 20 s of CPU."""
    import copy

    torch.set_num_threads(1)
    torch.manual_seed(0)
    reference, _ = _nll_reference()
    scores = {}
    for arm, data, extra in (
        ("a_lol", _scored_file(tmp_path / "scored.jsonl"), {}),
        ("nll", _scored_file(tmp_path / "all_one.jsonl", rewards_of_corrupted=1.0),
         {"variant": "wbc", "priority_sampling": False}),
    ):  # fmt: skip
        algo = _alol_run(tmp_path, copy.deepcopy(reference), data, **extra)
        if arm == "a_lol":  # V_ref sits between the two rewards, so only right answers carry advantage
            adv = alol.advantages(algo.rewards, algo.values)
            assert (adv[algo.rewards == 0] == 0).all() and (adv[algo.rewards == 1] > 0).any()
        while algo.global_step < algo.config.total_steps:
            algo.step()
        scores[arm] = algo.evaluate(10)["mean_return"]
    assert scores["a_lol"] >= 0.9, scores
    assert scores["nll"] <= 0.7, scores


def test_alol_config_errors_name_the_input(tmp_path):
    from rewardlab.errors import RewardlabError
    from rewardlab.llm.alol import ALoLConfig, read_scored_responses

    base = {"env": "arithmetic", "data": "x.jsonl", "model": "tiny-random-llama"}
    with pytest.raises(ConfigError, match="needs offline data"):
        ALoLConfig(**{**base, "data": ""}).validate()
    with pytest.raises(ConfigError, match="needs a task"):
        ALoLConfig(**{**base, "env": ""}).validate()
    with pytest.raises(ConfigError, match="variant 'ppo'.*valid: a_lol"):
        ALoLConfig(**base, variant="ppo").validate()
    with pytest.raises(ConfigError, match="set priority_sampling = false"):
        ALoLConfig(**base, clamp_advantage=False).validate()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"prompt": "1=", "response": "0", "reward": 1}\n{"prompt": "2=", "response": "3", "reward": "high"}\n'
    )
    with pytest.raises(RewardlabError, match=r"bad.jsonl:2: 'reward' must be a finite number, got 'high'"):
        read_scored_responses(str(bad))


def test_example_config_resolves():
    from pathlib import Path

    from rewardlab.config import build_config
    from rewardlab.llm.alol import ALoLConfig, read_scored_responses

    root = Path(__file__).resolve().parents[2]
    cfg = build_config(ALoLConfig, files=[root / "examples" / "a_lol_smollm2_arithmetic.toml"])
    cfg.validate()
    assert cfg.model == "smollm2-135m-instruct" and cfg.env == "arithmetic" and cfg.variant == "a_lol"
    rows = read_scored_responses(str(root / cfg.data))
    assert len(rows) == 600 and sorted({r["reward"] for r in rows}) == [0.0, 1.0]
    assert sum(r["reward"] for r in rows) == 300  # half the answers are wrong
