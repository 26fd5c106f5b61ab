"""Kill-and-resume is bit-identical for EVERY registered algorithm, so a new algorithm is covered the
day it is registered: train a tiny run, cut it back to an early checkpoint (as a kill would leave
it), resume, and compare every logged value and the final evaluation with the uninterrupted run.
Each algorithm must also classify every attribute it sets as declared state or as rebuilt from the
config (rewardlab.core.state), so a new attribute cannot slip out of the checkpoints unnoticed.
"""

import json
from pathlib import Path

import pytest
import torch
from _resume import assert_same_state, comparable_result, final_state, killed_after_checkpoint, logged_metrics

from rewardlab import registry
from rewardlab.core.run import Run, checkpoints, new_config

ROOT = Path(__file__).resolve().parents[1]
LM_TINY = [
    "model=tiny-random-llama", "lora_r=4", "max_completion_length=4", "max_prompt_length=48", "learning_rate=1e-3",
    "samples_every=1", "samples_per_log=2",
]  # fmt: skip
ONLINE_TINY = [*LM_TINY, "batch_size=2", "num_generations=2", "num_iterations=2", "beta=0.04",
               "task_params={digits=1, num_train=8, num_test=4}"]  # fmt: skip
BANDIT_TINY = ["rounds_per_step=50", "eval_rounds=10"]
TABULAR_TINY = ["episodes_per_step=2", "max_episode_steps=100"]
INDEPENDENT_TINY = ["episodes_per_step=1", "episode_length=10", "n_users=10"]
OFFLINE_TINY = ["hidden_sizes=[16, 16]", "batch_size=16", "log_every=25", "eval_every=100", "eval_episodes=1"]

#: name -> (env or None for the config's default, total_steps, --set overrides). Small enough that the
#: whole parametrization runs in well under a minute on one core; four checkpoints per run.
TINY: dict[str, tuple[str | None, int, list[str]]] = {
    "ppo": ("CartPole-v1", 256, ["num_envs=2", "n_steps=16", "batch_size=16", "n_epochs=2"]),
    "dqn": ("CartPole-v1", 256, ["learning_starts=32", "train_freq=16", "gradient_steps=2",
                                 "target_update_interval=48", "buffer_size=500", "batch_size=16"]),
    "grpo": ("arithmetic", 4, ONLINE_TINY),
    "rloo": ("arithmetic", 4, [*ONLINE_TINY, "true_reward=exact_match", "hacking_window=3"]),  # + the monitor's state
    "dpo": (None, 4, [*LM_TINY, "batch_size=2"]),  # data: a few pairs written by the test
    # data: a few scored responses written by the test; V_ref from the reference's greedy answers
    "a-lol": ("arithmetic", 4, [*LM_TINY, "batch_size=2", "value_prompts=4",
                                "task_params={digits=1, num_train=8, num_test=4}"]),
    "reward-model": (None, 4, ["batch_size=4", "max_length=64"]),  # data: as dpo's
    **{name: (None, 400, BANDIT_TINY) for name in (
        "epsilon-greedy", "ucb1", "kl-ucb", "thompson", "linucb", "lin-ts", "dynlin-ucb", "whittle", "myopic")},
    "sequoia": (None, 400, [*BANDIT_TINY, "action_solver=enumerate", "warm_start_updates=20", "batch_size=8"]),
    **{name: ("CliffWalking-v1", 800, TABULAR_TINY) for name in ("qlearning", "sarsa", "expected-sarsa")},
    **{name: (None, 40, INDEPENDENT_TINY) for name in
       ("independent-sarsa", "independent-qlearning", "random-agents")},
    **{name: ("Pendulum-v1", 300, ["learning_starts=64", "batch_size=16", "buffer_size=200", "log_every=50",
                                   "hidden_sizes=[16, 16]"]) for name in ("sac", "td3", "ddpg")},
    **{name: (None, 200, OFFLINE_TINY) for name in ("bc", "td3-bc", "iql")},
    "cql": (None, 200, [*OFFLINE_TINY, "n_action_samples=2"]),
    "discrete-cql": (None, 200, [*OFFLINE_TINY, "target_update_interval=30"]),
    "dt": (None, 200, [*OFFLINE_TINY, "context_size=4", "num_layers=1", "return_scale=0.001"]),
    "hrpo": (None, 8, ["groups=2", "num_generations=2", "hidden_size=8", "eval_episodes=4"]),
    "dcolt": (None, 8, ["sft_steps=4", "sft_batch_size=8", "batch_size=2", "num_generations=2", "hidden_size=8",
                        "num_heads=2", "num_layers=1"]),
    "softmax": (None, 400, BANDIT_TINY),
    # the EMA teacher is declared state; a fast decay so that it moves within 4 steps
    "rlp": ("arithmetic", 4, [*LM_TINY, "batch_size=2", "num_generations=2", "ema_decay=0.5",
                              "task_params={digits=1, num_train=8, num_test=4}"]),
    # no beta: ROVER has no reference (num_iterations 2: pi_old's log-probs and vocabulary means are state)
    "rover": ("arithmetic", 4, [*LM_TINY, "batch_size=2", "num_generations=2", "num_iterations=2",
                                "task_params={digits=1, num_train=8, num_test=4}"]),
}  # fmt: skip
LM_ALGORITHMS = ("grpo", "rloo", "dpo", "a-lol", "reward-model", "rover", "rlp", "lm-ppo", "reinforce-pp")
# token-level PPO: two minibatches x two epochs per rollout (a checkpoint falls mid-rollout), a
# critic warm-up step, the KL as a loss term; REINFORCE++-baseline with its KL in the reward
PPO_TINY = [*ONLINE_TINY, "num_mini_batches=2", "critic_warmup_steps=1", "kl_penalty=loss"]
TINY["lm-ppo"] = ("arithmetic", 4, PPO_TINY)
TINY["reinforce-pp"] = ("arithmetic", 4, [*ONLINE_TINY, "baseline=group"])
OFFLINE_ALGORITHMS = ("bc", "td3-bc", "iql", "cql", "discrete-cql", "dt")
OFFLINE_DATA = {"discrete-cql": "cartpole"}  # the others learn from Pendulum (continuous actions)


def _config(name, tmp_path):
    env, total, sets = TINY[name]
    sets = [*sets, f"checkpoint_every={max(1, total // 4)}", "eval_episodes=2"]
    if name in ("dpo", "reward-model"):
        pairs = (ROOT / "examples/data/arithmetic_pairs.jsonl").read_text().splitlines()[:6]
        (tmp_path / "pairs.jsonl").write_text("\n".join(pairs) + "\n")
        sets.append(f"data={tmp_path / 'pairs.jsonl'}")
    if name == "a-lol":
        rows = (ROOT / "examples/data/arithmetic_alol.jsonl").read_text().splitlines()[:6]
        (tmp_path / "scored.jsonl").write_text("\n".join(rows) + "\n")
        sets.append(f"data={tmp_path / 'scored.jsonl'}")
    if name in OFFLINE_ALGORITHMS:
        sets.append(f"dataset={_offline_dataset(OFFLINE_DATA.get(name, 'pendulum'), tmp_path)}")
    cli = {"total_steps": total, "seed": 3, **({"env": env} if env else {})}
    return new_config(name, sets=sets, cli=cli)


def _offline_dataset(kind, tmp_path):
    """A few hundred steps of a built-in controller, written as a Minari dataset (offline algorithms)."""
    from rewardlab.offline.generate import generate

    env = {"pendulum": "Pendulum-v1", "cartpole": "CartPole-v1"}[kind]
    return generate(env, "mixed", 400, f"t/{kind}/mixed-v0", policy_run="builtin", ref_episodes=1, root=tmp_path / "minari")


def _jsonl_files(run_dir):
    return {p.name: p.read_text() for p in sorted(Path(run_dir).glob("*.jsonl")) if p.name != "metrics.jsonl"}


@pytest.mark.parametrize("name", registry.algorithm_names())
def test_kill_and_resume_is_bit_identical(name, tmp_path):
    if name not in TINY:
        pytest.fail(
            f"algorithm {name!r} is registered but has no tiny config for the resume test: add "
            f'TINY["{name}"] = (env or None, total_steps, ["key=value", ...]) to {Path(__file__).name}, '
            f"small enough to train in about a second"
        )
    if name in OFFLINE_ALGORITHMS:
        pytest.importorskip("minari", reason="the offline extra is not installed")
    if name in LM_ALGORITHMS:
        pytest.importorskip("transformers", reason="the llm extra is not installed")
        pytest.importorskip("peft", reason="the llm extra is not installed")
    torch.set_num_threads(1)
    full = tmp_path / "full"
    run = Run.start(name, _config(name, tmp_path), full)
    result = run.train(progress=False)
    assert run.algo.undeclared_attributes() == [], (
        f"{type(run.algo).__name__} sets attributes that are neither declared state (state_fields) nor "
        f"rebuilt from the config (rebuilt_fields); classify each so that checkpoints cannot miss one"
    )
    ckpts = checkpoints(full)
    assert len(ckpts) >= 3, f"{name}: the tiny config must write several checkpoints, got {len(ckpts)}"

    cut = killed_after_checkpoint(full, 1, copy_to=tmp_path / "cut")
    resumed = Run.resume(cut)
    assert resumed.algo.global_step == json.loads((ckpts[0] / "meta.json").read_text())["global_step"]
    again = resumed.train(progress=False)

    assert logged_metrics(cut) == logged_metrics(full)
    assert _jsonl_files(cut) == _jsonl_files(full)
    assert comparable_result(again) == comparable_result(result)
    assert_same_state(final_state(cut), final_state(full))
