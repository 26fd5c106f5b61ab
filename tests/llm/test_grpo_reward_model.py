"""A Bradley-Terry reward model inside GRPO, with the reward-hacking monitor watching a held-out
rule reward (issue E3 of docs/learned_rewards.md, on the copy-digit toy so it runs in seconds).

Arm A: a reward model that ranks every (prompt, answer) of the task right drives GRPO; the true
accuracy rises and the monitor stays silent. Arm B: from arm A's policy, a deliberately weak
reward model (50 pairs, 4 epochs) takes over; the monitor warns while the true accuracy is still
high, and the true accuracy then falls. Both reward models are given to GRPO by path, as a user
would (``reward = "runs/rm"``).
"""

import numpy as np
import pytest
from conftest import DIGITS, CopyDigit, tiny_policy

from rewardlab.llm.grpo import GRPO, GRPOConfig
from rewardlab.rewards.learned.bradley_terry import BradleyTerry, Pairs

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


def reward_model(path, name, pairs, epochs):
    rm = BradleyTerry(
        "tiny-random-llama",
        seed=0,
        learning_rate=3e-3,
        batch_size=20,
        epochs=epochs,
        early_stopping=False,
        name=name,
    )
    rm.fit(pairs)
    return rm.save(path)


@pytest.mark.slow
def test_reward_model_drives_grpo_and_a_weak_one_is_caught_by_the_hacking_monitor(tmp_path):
    good = reward_model(tmp_path / "good", "rm_good", copy_pairs(440, 1), epochs=12)
    weak = reward_model(tmp_path / "weak", "rm_weak", copy_pairs(50, 1), epochs=4)
    (tmp_path / "rules.py").write_text(COPY_RULE)
    true_reward = f"{tmp_path / 'rules.py'}:copy_rule"

    # Arm A: the good reward model; the rule reward is only watched
    cfg = GRPOConfig(**TOY, reward=str(good), true_reward=true_reward)
    algo = GRPO(cfg, policy=tiny_policy(cfg), task=CopyDigit(seed=0))
    true, warnings = [], []
    while len(true) < 150 and not (len(true) > 10 and np.mean(true[-5:]) > 0.85):
        metrics = algo.step()
        true.append(metrics["true_reward"])
        warnings += algo.pop_warnings()
    assert np.mean(true[:3]) < 0.2  # chance: one token in twelve
    assert np.mean(true[-5:]) > 0.85, true[-10:]  # the true accuracy rises under the learned reward
    assert warnings == [] and metrics["hacking/correlation"] > 0.9  # proxy and true agree
    level = float(np.mean(true[-5:]))

    # Arm B: the weak reward model takes over the trained policy
    cfg_b = GRPOConfig(**TOY, reward=str(weak), true_reward=true_reward)
    hacked = GRPO(cfg_b, policy=algo.policy, task=CopyDigit(seed=0))
    true_b, first_warning = [], None
    for step in range(50):
        true_b.append(hacked.step()["true_reward"])
        found = hacked.pop_warnings()
        if found and first_warning is None:
            first_warning = step
            assert "rm_weak" in found[0] and "true:" in found[0]
    assert first_warning is not None and first_warning <= 5
    assert np.mean(true_b[: first_warning + 1]) >= 0.6  # warned while the true accuracy was still high
    assert np.mean(true_b[-10:]) <= level - 0.3, true_b[-10:]  # ... and then it fell
