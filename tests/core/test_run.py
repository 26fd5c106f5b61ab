"""The Run: bit-identical resume, atomic checkpoints, NaN guard, refusing to mix runs."""

import errno
import json

import pytest
import torch
from _resume import comparable_result, killed_after_checkpoint, logged_metrics

from rewardlab import registry
from rewardlab.core.run import Run, checkpoints, evaluate_run, new_config, read_metrics
from rewardlab.errors import ConfigError, NonFiniteError, RewardlabError, RunWriteError

SMALL_PPO = ["num_envs=4", "n_steps=64", "batch_size=128", "n_epochs=2", "checkpoint_every=1024", "eval_episodes=2"]
SMALL_DQN = ["learning_starts=200", "train_freq=64", "gradient_steps=16", "target_update_interval=100",
             "buffer_size=5000", "checkpoint_every=1024", "eval_episodes=2"]  # fmt: skip


def _train(algo, env, total, sets, out):
    config = new_config(algo, sets=sets, cli={"env": env, "total_steps": total, "seed": 3})
    return Run.start(algo, config, out).train(progress=False)


@pytest.mark.parametrize(
    "algo,env,sets",
    [
        ("ppo", "CartPole-v1", SMALL_PPO),
        ("ppo", "Pendulum-v1", [*SMALL_PPO, "norm_obs=true", "norm_reward=true"]),
        ("ppo", "CartPole-v1", [*SMALL_PPO, "vectorization=async", "num_envs=2", "batch_size=64"]),
        ("dqn", "CartPole-v1", SMALL_DQN),
    ],
    ids=["ppo-discrete", "ppo-continuous-normalised", "ppo-async", "dqn"],
)
def test_resume_from_any_checkpoint_is_bit_identical(tmp_path, algo, env, sets):
    full = tmp_path / "full"
    result = _train(algo, env, 4096, sets, full)
    ckpts = checkpoints(full)
    assert [int(p.name.split("_")[1]) for p in ckpts][-1] == read_metrics(full)[-1]["step"]
    assert len(ckpts) >= 4
    for keep in (1, len(ckpts) // 2):  # stop after the first checkpoint, and after a middle one
        cut = killed_after_checkpoint(full, keep, copy_to=tmp_path / f"cut{keep}")
        resumed = Run.resume(cut)
        assert resumed.algo.global_step == int(ckpts[keep - 1].name.split("_")[1])
        resumed_result = resumed.train(progress=False)
        assert logged_metrics(cut) == logged_metrics(full)
        assert comparable_result(resumed_result) == comparable_result(result)


def test_checkpoint_contents_and_eval_json(tmp_path):
    out = tmp_path / "run"
    _train("ppo", "CartPole-v1", 2048, SMALL_PPO, out)
    state = torch.load(checkpoints(out)[-1] / "state.pt", weights_only=False)["algo"]
    for key in ("actor", "critic", "optimizer", "rng", "np_rng", "collector", "global_step", "stats"):
        assert key in state
    assert set(state["rng"]) == {"torch", "numpy", "python"}
    ev = json.loads((out / "eval.json").read_text())
    assert {"mean_return", "std_return", "episodes"} <= set(ev) and ev["episodes"] == 2
    assert (out / "curve.png").stat().st_size > 1000
    assert list(out.glob("events.out.tfevents*")), "TensorBoard events are written beside metrics.jsonl"
    again = evaluate_run(out, episodes=3)
    assert again["episodes"] == 3 and again["step"] == 2048


def test_a_failed_save_leaves_no_partial_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = new_config("ppo", sets=SMALL_PPO, cli={"env": "CartPole-v1", "total_steps": 4096})
    run = Run.start("ppo", config, out)
    real_save = torch.save
    calls = {"n": 0}

    def dying_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the third checkpoint dies halfway through writing its file
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(RunWriteError) as err:
        run.train(progress=False)
    msg = " ".join(str(err.value).split())
    assert "step_0000003072/state.pt" in msg and "No space left on device" in msg
    assert "the last good checkpoint" in msg and "step_0000002048 is intact" in msg
    names = [p.name for p in (out / "checkpoints").iterdir()]
    assert sorted(names) == ["step_0000001024", "step_0000002048"]
    assert [p.name for p in checkpoints(out)] == ["step_0000001024", "step_0000002048"]
    assert not list((out / "checkpoints").glob(".tmp-*"))
    # A temp dir left by a hard kill is ignored, and the previous checkpoint resumes.
    (out / "checkpoints" / ".tmp-step_0000003072-abc").mkdir()
    monkeypatch.setattr(torch, "save", real_save)
    resumed = Run.resume(out)
    assert resumed.algo.global_step == 2048
    resumed.train(progress=False)
    assert read_metrics(out)[-1]["step"] == 4096


class _ExplodingPPO(registry.load("rewardlab.rl.ppo:PPO")):
    def step(self):
        metrics = super().step()
        if self.global_step >= 2048 + 512:
            metrics["loss"] = float("nan")
        return metrics


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "get_algorithm", lambda name: _ExplodingPPO)
    out = tmp_path / "run"
    config = new_config("ppo", sets=SMALL_PPO, cli={"env": "CartPole-v1", "total_steps": 4096})
    with pytest.raises(NonFiniteError, match=r"metric 'loss' became nan at step 2560") as err:
        Run.start("ppo", config, out).train(progress=False)
    assert "step_0000002048" in str(err.value)
    assert [p.name for p in checkpoints(out)][-1] == "step_0000002048"
    assert not (out / "eval.json").exists()


def test_refuses_non_empty_out_and_resume_without_checkpoint(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    config = new_config("ppo", cli={"env": "CartPole-v1"})
    with pytest.raises(RewardlabError, match="is not empty"):
        Run.start("ppo", config, out)
    assert (out / "notes.txt").read_text() == "mine"
    # a run directory whose training never reached a checkpoint
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.toml").write_text('algo = "ppo"\nenv = "CartPole-v1"\n')
    (bare / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(RewardlabError, match="no complete checkpoint"):
        Run.resume(bare)
    assert (bare / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_resume_with_contradicting_config_changes_nothing(tmp_path):
    out = tmp_path / "run"
    _train("ppo", "CartPole-v1", 1024, SMALL_PPO, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match=r"learning_rate=0\.5 \(saved: 0\.00025\)"):
        Run.resume(out, {"learning_rate": "0.5"})
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert before == after


class _ChattyPPO(registry.load("rewardlab.rl.ppo:PPO")):
    """Emits one record per iteration (like an LM's samples.jsonl) and a warning every 4th."""

    def step(self):
        metrics = super().step()
        self._pending = [{"step": self.global_step, "draw": float(torch.rand(()).item())}]
        return metrics

    def pop_records(self):
        rows, self._pending = getattr(self, "_pending", []), []
        return {"samples": rows}

    def pop_warnings(self):
        return [f"proxy reward diverges at {self.global_step}"] if self.iteration % 4 == 0 else []


def test_records_and_warnings_are_written_and_cut_back_on_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "get_algorithm", lambda name: _ChattyPPO)
    full = tmp_path / "full"
    _train("ppo", "CartPole-v1", 2048, SMALL_PPO, full)
    samples = (full / "samples.jsonl").read_text().splitlines()
    assert len(samples) == len(read_metrics(full)) == 8
    log = (full / "run.log").read_text()
    assert "started ppo on 'CartPole-v1'" in log and "WARNING proxy reward diverges at 1024" in log
    cut = killed_after_checkpoint(full, -1, copy_to=tmp_path / "cut")
    Run.resume(cut).train(progress=False)
    assert (cut / "samples.jsonl").read_text().splitlines() == samples
    assert "resumed from step_0000001024" in (cut / "run.log").read_text()


def test_flush_denormal_is_on_during_training_only(tmp_path, monkeypatch):
    seen = []
    PPO = registry.load("rewardlab.rl.ppo:PPO")

    class Probe(PPO):
        def step(self):
            seen.append(torch.tensor(1e-42) == 0)  # a subnormal float32 reads as 0 when flushed
            return super().step()

    monkeypatch.setattr(registry, "get_algorithm", lambda name: Probe)
    _train("ppo", "CartPole-v1", 512, SMALL_PPO, tmp_path / "run")
    assert seen and all(bool(x) for x in seen)
    assert torch.tensor(1e-42) != 0  # restored: other code in the process keeps IEEE subnormals
