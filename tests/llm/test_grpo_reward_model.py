"""A Bradley-Terry reward model inside GRPO, with the reward-hacking monitor watching a held-out
rule reward (issue E3 of docs/learned_rewards.md), on the copy-digit toy (seconds) and on the
registered ``arithmetic`` task (1-digit addition, a minute: ``-m long``).

Arm A: a reward model that ranks the task's (prompt, answer) pairs right drives GRPO; the true
accuracy rises and the monitor stays (nearly) silent. Arm B: from arm A's policy, a deliberately
weak reward model (50 pairs, 4 epochs) takes over; the monitor warns while the true accuracy is
still high, and the true accuracy then falls. Both reward models are given to GRPO by path, as a
user would (``reward = "runs/rm"``).
"""

import numpy as np
import pytest
from conftest import DIGITS, CopyDigit, tiny_policy

from rewardlab.llm.grpo import GRPO, GRPOConfig
from rewardlab.rewards.base import Sample
from rewardlab.rewards.learned.bradley_terry import BradleyTerry, Pairs
from rewardlab.tasks.arithmetic import Arithmetic
from rewardlab.tasks.base import build_reward

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

TOY = dict(env="", num_threads=1, batch_size=8, num_generations=8, max_completion_length=1, max_prompt_length=8,
           micro_batch_size=64, lr_scheduler="constant", lora_r=0, total_steps=500, learning_rate=2e-3,
           hacking_window=10, hacking_min_correlation=0.5)  # fmt: skip


# The true reward, given to GRPO by file path as a user would. It lives in its own file: importing
# this test module again by path would re-run ``from conftest import ...``, which in a whole-suite
# run resolves to whichever directory's conftest was imported last.
COPY_RULE = '''
def copy_rule(sample):
    """The true reward: the completion is the prompt's digit."""
    return 1.0 if sample.completion[:1] == sample.reference else 0.0
'''


def copy_pairs(n, seed):
    """``n`` draws from every (right, wrong) answer pair: a wrong digit, "=" or nothing (EOS at once)."""
    rng = np.random.default_rng(seed)
    every = [(f"{d}={d}", f"{d}={c}") for d in DIGITS for c in [*(x for x in DIGITS + "=" if x != d), ""]]
    idx = np.concatenate([rng.permutation(len(every)) for _ in range(n // len(every) + 1)])[:n]
    return Pairs([every[i][0] for i in idx], [every[i][1] for i in idx])


def reward_model(path, name, pairs, epochs, batch_size=20, seed=0):
    rm = BradleyTerry(
        "tiny-random-llama",
        seed=seed,
        learning_rate=3e-3,
        batch_size=batch_size,
        epochs=epochs,
        early_stopping=False,
        name=name,
    )
    rm.fit(pairs)
    return rm.save(path)


def hacking_arms(
    make_task, settings, good, weak, *, chars, seed=0, stop=0.85, cap=150, steps_b=50, settings_b=None
):
    """Arm A: GRPO (``settings``, with its ``true_reward``) driven by the reward model saved at
    ``good`` until the true accuracy, mean of the last 5 steps, passes ``stop`` (at most ``cap``
    steps). Arm B: the one at ``weak`` takes over arm A's policy for ``steps_b`` steps. Returns both
    arms' per-step true accuracy, arm A's warnings and last metrics, and arm B's first warning
    (step and text). ``settings_b`` overrides ``settings`` in arm B."""
    cfg = GRPOConfig(**{**settings, "seed": seed}, reward=str(good))
    algo = GRPO(cfg, policy=tiny_policy(cfg, chars=chars, seed=seed), task=make_task())
    true_a, warnings_a = [], []
    while len(true_a) < cap and not (len(true_a) > 10 and np.mean(true_a[-5:]) > stop):
        metrics_a = algo.step()
        true_a.append(metrics_a["true_reward"])
        warnings_a += algo.pop_warnings()
    cfg_b = GRPOConfig(**{**settings, **(settings_b or {}), "seed": seed}, reward=str(weak))
    hacked = GRPO(cfg_b, policy=algo.policy, task=make_task())
    true_b, first, first_text = [], None, ""
    for step in range(steps_b):
        true_b.append(hacked.step()["true_reward"])
        found = hacked.pop_warnings()
        if found and first is None:
            first, first_text = step, found[0]
    return {"true_a": true_a, "warnings_a": warnings_a, "metrics_a": metrics_a, "true_b": true_b,
            "first_warning_b": first, "first_warning_text": first_text}  # fmt: skip


@pytest.mark.slow
def test_reward_model_drives_grpo_and_a_weak_one_is_caught_by_the_hacking_monitor(tmp_path):
    good = reward_model(tmp_path / "good", "rm_good", copy_pairs(440, 1), epochs=12)
    weak = reward_model(tmp_path / "weak", "rm_weak", copy_pairs(50, 1), epochs=4)
    (tmp_path / "rules.py").write_text(COPY_RULE)
    settings = {**TOY, "true_reward": f"{tmp_path / 'rules.py'}:copy_rule"}
    arms = hacking_arms(lambda: CopyDigit(seed=0), settings, good, weak, chars=DIGITS + "=")

    # Arm A: the good reward model; the rule reward is only watched
    true = arms["true_a"]
    assert np.mean(true[:3]) < 0.2  # chance: one token in twelve
    assert np.mean(true[-5:]) > 0.85, true[-10:]  # the true accuracy rises under the learned reward
    assert arms["warnings_a"] == [] and arms["metrics_a"]["hacking/correlation"] > 0.9  # proxy and true agree
    level = float(np.mean(true[-5:]))

    # Arm B: the weak reward model takes over the trained policy
    true_b, first = arms["true_b"], arms["first_warning_b"]
    assert first is not None and first <= 5
    assert "rm_weak" in arms["first_warning_text"] and "true:" in arms["first_warning_text"]
    assert np.mean(true_b[: first + 1]) >= 0.6  # warned while the true accuracy was still high
    assert np.mean(true_b[-10:]) <= level - 0.3, true_b[-10:]  # ... and then it fell


# ---- the same on the registered ``arithmetic`` task ----------------------------------------------
# 1-digit addition (answers 0..18: one or two tokens), 20 training problems, the prompt "a+b=" (the
# task's own ``template`` key; its default English prompt is 44 characters the tiny Llama would only
# have to skip). The policy's vocabulary is the digits and "+=", so with at most two completion
# tokens it can write 157 different completions; the rule reward is the task's own, ``math_equiv``
# (the last number equals the sum: "7", "=7" and "7+" are all right for 3+4).
ARITHMETIC = dict(digits=1, ops="+", num_train=20, num_test=10, template="{a}{op}{b}=")
ARITHMETIC_CHARS = DIGITS + "+="
# The good reward model's proxy/true correlation over a window is 0.55-0.7 (it ranks a right answer
# above a wrong one 0.99 of the time, but scores wrong numbers near right ones while junk sits far
# below), the weak one's 0.1-0.3: the monitor's threshold sits between them.
ARITHMETIC_GRPO = {
    **TOY,
    "max_completion_length": 2,
    "true_reward": "math_equiv",
    "hacking_min_correlation": 0.4,
}
# Arm B at a quarter of the learning rate, on all 20 problems a step: at 2e-3 the weak reward model
# has moved the policy off its right answers within two steps (0.33, 0.22, 0.03 on seed 0), before
# the monitor has the three steps it needs for a first verdict; the smaller steps show the order
# (warning, then fall) and the full batch keeps each step's true accuracy from being 8 prompts' noise.
ARITHMETIC_B = {"learning_rate": 5e-4, "batch_size": 20}


def arithmetic_completions():
    """Every completion the policy can write: nothing, or one or two characters of its vocabulary."""
    return ["", *ARITHMETIC_CHARS, *(a + b for a in ARITHMETIC_CHARS for b in ARITHMETIC_CHARS)]


def arithmetic_pairs(task, n=None, seed=0):
    """(right, wrong) answer pairs over ``task``'s training problems, labelled by its rule reward.
    The right one is the bare sum half the time, else any completion the rule accepts. ``n=None``:
    every wrong completion of every problem once; else ``n`` random draws whose wrong answer is a
    wrong number half the time (the hard negatives), else any wrong completion."""
    rng, rule, every = np.random.default_rng(seed), build_reward("math_equiv"), arithmetic_completions()
    labelled = []
    for ex in task.build("train"):
        right = rule([Sample(prompt=ex.prompt, completion=c, reference=ex.reference) for c in every]) > 0
        labelled.append(
            (ex, [c for c, r in zip(every, right) if r], [c for c, r in zip(every, right) if not r])
        )
    if n is None:
        draws = [(ex, ok, w) for ex, ok, wrong in labelled for w in wrong]
    else:
        draws = []
        for i in rng.integers(len(labelled), size=n):
            ex, ok, wrong = labelled[i]
            numbers = [w for w in wrong if w.isdigit() and str(int(w)) == w]
            pool = numbers if rng.random() < 0.5 else wrong
            draws.append((ex, ok, pool[rng.integers(len(pool))]))
    chosen = [
        ex.prompt + (ex.reference if rng.random() < 0.5 else ok[rng.integers(len(ok))]) for ex, ok, _ in draws
    ]
    return Pairs(chosen, [ex.prompt + w for ex, _, w in draws])


def arithmetic_reward_models(root, seed=0):
    """The good reward model (every wrong completion of each problem once, 8 epochs) and the weak one
    (50 random pairs, 4 epochs) of ``Arithmetic(seed)``'s training problems."""
    task = Arithmetic(seed=seed, **ARITHMETIC)
    good = reward_model(root / f"good{seed}", "rm_good", arithmetic_pairs(task, None, 1 + seed), 8, 32, seed)
    weak = reward_model(root / f"weak{seed}", "rm_weak", arithmetic_pairs(task, 50, 1 + seed), 4, 20, seed)
    return good, weak


@pytest.mark.long
def test_reward_model_drives_grpo_on_arithmetic_and_a_weak_one_is_caught(tmp_path):
    """The same two arms on ``arithmetic``; arm A (the good reward model: the true accuracy rises,
    the monitor stays nearly silent) is the control of arm B. About 60 s."""
    good, weak = arithmetic_reward_models(tmp_path)
    arms = hacking_arms(lambda: Arithmetic(seed=0, **ARITHMETIC), ARITHMETIC_GRPO, good, weak,
                        chars=ARITHMETIC_CHARS, stop=0.3, cap=200, settings_b=ARITHMETIC_B)  # fmt: skip
    true = arms["true_a"]
    assert np.mean(true[:3]) < 0.1  # chance: about 1 in 30
    assert np.mean(true[-5:]) > 0.3, true[-10:]  # the true accuracy rises under the learned reward
    # the proxy/true correlation never drops below the threshold; the monitor's other check (proxy
    # slope up, true slope down, no margin) does fire early on, while the policy stops writing junk
    # the reward model scores low and the true accuracy is still flat at chance
    assert not [w for w in arms["warnings_a"] if "(low_correlation)" in w], arms["warnings_a"]
    level = float(np.mean(true[-5:]))

    true_b, first = arms["true_b"], arms["first_warning_b"]
    assert first is not None and first <= 5 and "rm_weak" in arms["first_warning_text"]
    assert "(low_correlation)" in arms["first_warning_text"]
    assert np.mean(true_b[: first + 1]) >= level - 0.1  # warned while the true accuracy was still high
    assert np.mean(true_b[-10:]) <= level / 2, true_b[-10:]  # ... and then it fell


# ---- a reward model that keeps learning during GRPO ----------------------------------------------


def test_group_preference_pairs_by_hand():
    from rewardlab.rewards.learned.online_preferences import group_preference_pairs

    # two groups of three: labels (1, 0, 1) give a>b and c>b (a, c tie); (0, 0, 0) gives nothing
    chosen, rejected = group_preference_pairs(list("abcdef"), [1, 0, 1, 0, 0, 0], 3)
    assert (chosen, rejected) == (["a", "c"], ["b", "b"])
    chosen, rejected = group_preference_pairs(list("ab"), [0.2, 0.7], 2)
    assert (chosen, rejected) == (["b"], ["a"])


@pytest.mark.slow
def test_an_online_reward_model_follows_the_policy_where_a_frozen_weak_one_is_hacked(tmp_path):
    """The weak reward model (50 pairs) drives GRPO in both arms. Frozen, the policy learns its
    mistakes; learning online from the copy rule's labels of each batch (16 pairs a step), it
    becomes right on every answer pair and the true accuracy rises with it. About 20 s."""
    from rewardlab.rewards.learned.reward_model import load_reward_model

    weak = reward_model(tmp_path / "weak", "rm_weak", copy_pairs(50, 1), epochs=4)
    (tmp_path / "rules.py").write_text(COPY_RULE)
    rule = f"{tmp_path / 'rules.py'}:copy_rule"
    every_pair = copy_pairs(440, 7)
    weak_accuracy = load_reward_model(weak).pairwise_accuracy(every_pair)
    final = {}
    for arm, online in (("frozen", {}), ("online", {"reward_labeller": rule, "reward_pairs_per_step": 16})):
        cfg = GRPOConfig(**TOY, reward=str(weak), true_reward=rule, **online)
        algo = GRPO(cfg, policy=tiny_policy(cfg), task=CopyDigit(seed=0))
        true = [algo.step()["true_reward"] for _ in range(60)]
        final[arm] = (float(np.mean(true[-10:])), algo.reward.pairwise_accuracy(every_pair))
    assert final["frozen"][1] == weak_accuracy < 0.85  # frozen: the reward model never changed
    assert final["online"][1] >= 0.95, final  # measured 0.99
    assert final["online"][0] >= final["frozen"][0] + 0.15, final  # measured 0.49 against 0.20


# A labeller that tells any two different completions apart, so every group gives pairs.
FIRST_CHAR = """
def first_char_code(sample):
    return float(ord(sample.completion[0])) if sample.completion else 0.0
"""


def test_online_reward_model_kill_and_resume_is_bit_identical(tmp_path):
    """GRPO on 1-digit arithmetic with a tiny reward model learning online: cut after the first
    checkpoint and resume; every logged value (the reward model's loss, accuracy, buffer size) and
    the reward model's final weights, optimizer and buffer equal the uninterrupted run's."""
    import torch
    from _resume import killed_after_checkpoint, logged_metrics

    from rewardlab.core.run import Run, load_checkpoint, new_config, read_metrics
    from rewardlab.errors import ConfigError

    torch.set_num_threads(1)
    BradleyTerry("tiny-random-llama", seed=0, batch_size=4, max_length=64, name="rm").save(tmp_path / "rm")
    (tmp_path / "rules.py").write_text(FIRST_CHAR)
    sets = ["model=tiny-random-llama", "lora_r=4", "max_completion_length=3", "max_prompt_length=48",
            "batch_size=2", "num_generations=3", "task_params={digits=1, num_train=8, num_test=4}",
            f"reward={tmp_path / 'rm'}", f"reward_labeller={tmp_path / 'rules.py'}:first_char_code",
            "reward_buffer_size=5", "reward_pairs_per_step=4", "reward_updates_per_step=2",
            "checkpoint_every=1", "eval_episodes=2", "num_threads=1"]  # fmt: skip
    config = new_config("grpo", sets=sets, cli={"total_steps": 4, "seed": 3, "env": "arithmetic"})
    full = tmp_path / "full"
    run = Run.start("grpo", config, full)
    run.train(progress=False)
    cut = killed_after_checkpoint(full, 1, copy_to=tmp_path / "cut")
    Run.resume(cut).train(progress=False)

    reference = read_metrics(full)
    assert logged_metrics(cut) == logged_metrics(full)
    assert [r["reward_model/updates"] for r in reference] == [2.0, 4.0, 6.0, 8.0]
    assert reference[-1]["reward_model/buffer"] == 5.0  # the cap: the buffer is state, not rebuilt
    a, b = (load_checkpoint(d)[2]["algo"]["reward_learner"] for d in (full, cut))
    assert a["chosen"] == b["chosen"] and a["rejected"] == b["rejected"] and len(a["chosen"]) == 5
    initial = BradleyTerry.load(tmp_path / "rm").net.state_dict()
    for key, value in a["model"]["net"].items():
        assert torch.equal(value, b["model"]["net"][key]), key
    assert any(not torch.equal(v, initial[k]) for k, v in a["model"]["net"].items())  # it did learn
    assert a["model"]["optimizer"]["state"] and a["model"]["updates"] == 8
    # a diverged reward model is what the Run's NaN guard names
    assert run.algo.parameters_finite() is None
    run.algo.reward_learner.model.net.score_head.weight.data[0, 0] = float("nan")
    assert run.algo.parameters_finite() == "rm.net.score_head.weight"

    with pytest.raises(ConfigError, match="reward 'exact_match' cannot learn online"):
        Run.start("grpo", new_config("grpo", sets=[*sets[:7], "reward=exact_match", f"reward_labeller={tmp_path / 'rules.py'}:first_char_code"],
                                     cli={"env": "arithmetic"}), tmp_path / "bad")  # fmt: skip
    with pytest.raises(ConfigError, match="'reward_buffer_size': 0 is out of range; valid values are >= 1"):
        new_config("grpo", sets=[*sets, "reward_buffer_size=0"], cli={"env": "arithmetic"})
    with pytest.raises(
        ConfigError, match="reward_update_order 'later' is not one of after_score, before_score"
    ):
        new_config("grpo", sets=[*sets, "reward_update_order=later"], cli={"env": "arithmetic"}).validate()


def test_reward_update_order_decides_which_weights_score_the_batch(tmp_path):
    """after_score: the batch's reward is the reward model's before it learns from the batch's labels;
    before_score: after. One GRPO step of each, checked against the reward model scored by hand."""
    from rewardlab.rewards.learned.reward_model import load_reward_model

    rm = reward_model(tmp_path / "rm", "rm", copy_pairs(50, 1), epochs=1)
    (tmp_path / "rules.py").write_text(COPY_RULE)
    for order in ("after_score", "before_score"):
        cfg = GRPOConfig(**TOY, reward=str(rm), reward_labeller=f"{tmp_path / 'rules.py'}:copy_rule",
                         reward_update_order=order, reward_updates_per_step=3)  # fmt: skip
        algo = GRPO(cfg, policy=tiny_policy(cfg), task=CopyDigit(seed=0))
        metrics = algo.step()
        assert metrics["reward_model/updates"] == 3.0 and metrics["reward_model/new_pairs"] > 0
        initial = float(np.mean(load_reward_model(rm)(algo._last_samples)))
        updated = float(np.mean(algo.reward(algo._last_samples)))
        assert abs(updated - initial) > 1e-3
        expected = initial if order == "after_score" else updated
        assert metrics["reward"] == pytest.approx(expected, abs=1e-5), order
