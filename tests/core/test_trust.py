"""Issue 16, run directory and config: each ordinary mistake is a message naming the input and what is
valid; a run directory never loses, mixes or silently changes what it holds. The fault-injection
cases (kill -9, full disk, two writers, corruption) are in test_faults.py."""

import dataclasses
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _resume import logged_metrics, without_timing

from rewardlab import registry, tasks
from rewardlab.cli import main
from rewardlab.config import RunConfig, check_config, resolve_paths
from rewardlab.core import run as run_mod
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.lock import RunLock
from rewardlab.core.run import Run, checkpoints, evaluate_run, new_config, read_metrics
from rewardlab.errors import ConfigError, RewardlabError, RunLockedError
from rewardlab.tabular.td import TabularConfig

SARSA = ["checkpoint_every=300", "episodes_per_step=1"]


def _sarsa(out, total=1500, seed=1, sets=SARSA):
    config = new_config("sarsa", sets=sets, cli={"total_steps": total, "seed": seed})
    return Run.start("sarsa", config, out)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- every ordinary mistake is a message -------------------------------------------------------


@pytest.mark.parametrize(
    "argv,expected",
    [
        (
            ["sarsa", "--env", "CliffWalk-v1"],
            "unknown environment 'CliffWalk-v1'. Did you mean: CliffWalking-v1",
        ),
        (
            ["ppo", "--set", "learning_rate=-1"],
            "config key 'learning_rate': -1.0 is out of range; valid values are > 0",
        ),
        (["sarsa", "--set", "seed=-1"], "config key 'seed': -1 is out of range; valid values are >= 0"),
        (["sarsa", "--seed", "-1"], "config key 'seed': -1 is out of range; valid values are >= 0"),
        (
            ["sarsa", "--total-steps", "0"],
            "config key 'total_steps': 0 is out of range; valid values are >= 1",
        ),
        (
            ["sarsa", "--total-steps", "-5"],
            "config key 'total_steps': -5 is out of range; valid values are >= 1",
        ),
        (
            ["ppo", "--set", "clip_range=-0.2"],
            "config key 'clip_range': -0.2 is out of range; valid values are > 0",
        ),
        (
            ["sarsa", "--set", "eval_episodes=0"],
            "config key 'eval_episodes': 0 is out of range; valid values are >= 1",
        ),
        (
            ["ppo", "--set", "gamma=1.5"],
            "config key 'gamma': 1.5 is out of range; valid values are in [0, 1]",
        ),
        (["ppo", "--set", "learning_rate=nan"], "config key 'learning_rate': nan is out of range"),
    ],
)
def test_out_of_range_values_are_refused_naming_key_and_valid_range(tmp_path, capsys, argv, expected):
    out = tmp_path / "x"
    assert main(["train", *argv, "--out", str(out), "--no-progress"]) == 2
    assert expected in _one_line(capsys.readouterr().err)
    assert not out.exists()


def test_device_cuda_is_refused_without_a_gpu_and_cpu_kept(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU, so device=cuda is valid")
    assert main(["train", "sarsa", "--set", "device=cuda", "--out", str(tmp_path / "x")]) == 2
    err = _one_line(capsys.readouterr().err)
    assert (
        "config key 'device': 'cuda' is not available (torch sees no CUDA GPU" in err and "valid: cpu" in err
    )
    assert check_config(TabularConfig(device="cpu")).device == "cpu"


def test_out_below_a_file_is_a_message(tmp_path, capsys):
    (tmp_path / "afile.txt").write_text("mine")
    assert main(["train", "sarsa", "--total-steps", "100", "--out", str(tmp_path / "afile.txt" / "sub")]) == 4
    err = _one_line(capsys.readouterr().err)
    assert f"cannot create directory '{tmp_path}/afile.txt/sub'" in err and "afile.txt' is a file" in err
    assert (tmp_path / "afile.txt").read_text() == "mine"


def test_eval_episodes_zero_is_refused_by_eval_too(tmp_path, capsys):
    _sarsa(tmp_path / "r", total=300).train(progress=False)
    assert main(["eval", str(tmp_path / "r"), "--episodes", "0"]) == 2
    assert "--episodes: 0 is out of range; valid values are >= 1" in _one_line(capsys.readouterr().err)


def test_ranges_are_declared_once_and_survive_a_subclass_default(tmp_path):
    # TabularConfig redeclares total_steps / eval_episodes with its own defaults; RunConfig's ranges hold
    assert "total_steps" in TabularConfig.__dataclass_fields__
    with pytest.raises(
        ConfigError, match=r"'total_steps': 0 is out of range; valid values are >= 1 \(default 20000\)"
    ):
        check_config(TabularConfig(total_steps=0))
    # every registered algorithm's defaults lie inside the declared ranges (DPO, A-LoL and the reward model
    # need a data file, the offline algorithms a dataset)
    dataset = None
    for name in registry.algorithm_names():
        cls = registry.get_algorithm(name).config_class
        if name in ("dpo", "reward-model"):
            data = tmp_path / "pairs.jsonl"
            data.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n')
            check_config(cls(data=str(data)))
        elif name == "a-lol":
            data = tmp_path / "responses.jsonl"
            data.write_text('{"prompt": "a", "response": "b", "reward": 1.0}\n')
            check_config(cls(data=str(data), env="arithmetic"))
        elif "dataset" in cls.__dataclass_fields__:
            if dataset is None:
                from rewardlab.offline.generate import generate

                dataset = generate("CartPole-v1", "random", 50, "t/cart/random-v0", ref_episodes=1, root=tmp_path)
            check_config(cls(dataset=str(dataset)))
        else:
            check_config(cls())


def test_jsonl_task_with_too_few_lines_fails_when_made(tmp_path):
    data = tmp_path / "four.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"q{i}", "reference": str(i)}) + "\n" for i in range(4)))
    with pytest.raises(ConfigError) as err:
        tasks.make("jsonl", path=str(data))  # what an LM algorithm calls in __init__, before any step
    msg = str(err.value)
    assert str(data) in msg and "has 4 examples" in msg and "'test' split empty" in msg
    assert "at least 6 lines for test_fraction=0.1" in msg
    data.write_text(data.read_text() * 2)  # 8 lines: one test example
    assert len(tasks.make("jsonl", path=str(data)).examples("test")) == 1


# -- run directories -----------------------------------------------------------------------------


def test_resume_cuts_only_the_files_the_run_owns(tmp_path):
    out = tmp_path / "r"
    _sarsa(out).train(progress=False)
    (out / "my_notes.jsonl").write_text('{"note": 1}\n')
    full = read_metrics(out)
    ckpt = checkpoints(out)[2]
    for p in checkpoints(out)[3:]:
        p.rename(p.with_name("x" + p.name))  # pretend the run was killed after its third checkpoint
    resumed = Run.resume(out)
    assert resumed.algo.global_step == int(ckpt.name.split("_")[1])
    assert (out / "my_notes.jsonl").read_text() == '{"note": 1}\n'
    assert len(read_metrics(out)) < len(full)  # cut back to the checkpoint...
    resumed.train(progress=False)
    assert logged_metrics(out) == without_timing(full)  # ...and written again, identical
    assert (out / "my_notes.jsonl").read_text() == '{"note": 1}\n'


def test_a_record_file_first_written_after_the_checkpoint_is_cut_too(tmp_path, monkeypatch):
    Sarsa = registry.get_algorithm("sarsa")

    class LateRecords(Sarsa):
        def pop_records(self):
            return {"samples": [{"step": self.global_step}]} if self.global_step > 900 else {}

    monkeypatch.setattr(registry, "get_algorithm", lambda name: LateRecords)
    full, cut = tmp_path / "full", tmp_path / "cut"
    _sarsa(full).train(progress=False)
    _sarsa(cut).train(progress=False)
    assert "samples.jsonl" in json.loads((cut / ".owned.json").read_text())
    for p in checkpoints(cut):
        if json.loads((p / "meta.json").read_text())["jsonl_bytes"].get("samples.jsonl", 0) > 0:
            p.rename(p.with_name("x" + p.name))  # keep only checkpoints from before samples.jsonl existed
    assert checkpoints(cut) and (cut / "samples.jsonl").stat().st_size > 0
    resumed = Run.resume(cut)
    assert (cut / "samples.jsonl").stat().st_size == 0  # cut although that checkpoint never saw the file
    resumed.train(progress=False)
    assert (cut / "samples.jsonl").read_text() == (full / "samples.jsonl").read_text()


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    out = tmp_path / "r"
    first = _sarsa(out)
    with pytest.raises(RunLockedError) as err:
        Run.resume(out)
    assert f"run directory '{out}' is being written by pid {os.getpid()} on" in str(err.value)
    first.train(progress=False)  # releases the lock
    Run.resume(out).close()
    # a start into an empty directory whose lock another process already holds (it is starting there)
    (tmp_path / "empty").mkdir()
    with RunLock(tmp_path / "empty"):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            Run.start("sarsa", first.config, tmp_path / "empty")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_does_not_keep_the_directory_locked(tmp_path):
    # an AsyncVectorEnv worker forked while the trainer holds the lock must not hold it after the trainer
    out = tmp_path / "r"
    run = _sarsa(out)
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # fork hooks have run once the child runs code
        os.write(ready_w, b"x")
        os.read(r, 1)  # a worker that lives on until told to exit
        os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"x"
        run.close()
        with pytest.raises(RewardlabError, match="no complete checkpoint"):  # not RunLockedError
            Run.resume(out)
    finally:
        os.write(w, b"x")
        os.waitpid(pid, 0)
        for fd in (r, w, ready_r, ready_w):
            os.close(fd)


def test_default_run_names_include_the_seed_and_never_collide(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fixed = run_mod.default_run_dir("sarsa", "CliffWalking-v1", 0)
    monkeypatch.setattr(run_mod, "default_run_dir", lambda *a: fixed)  # the same instant, three times
    made = [run_mod.create_default_run_dir("sarsa", "CliffWalking-v1", 0) for _ in range(3)]
    assert len(set(made)) == 3 and all(p.is_dir() for p in made)
    monkeypatch.undo()
    names = []
    for seed in (0, 1, 2):
        run = _sarsa(None, total=100, seed=seed)
        run.close()
        names.append(run.run_dir.name)
    assert [n.split("-")[3] for n in names] == ["s0", "s1", "s2"] and len(set(names)) == 3


def test_out_with_resume_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    _sarsa(out, total=300).train(progress=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["train", "sarsa", "--resume", str(out), "--out", str(tmp_path / "elsewhere")]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"--out '{tmp_path}/elsewhere' cannot be combined with --resume '{out}'" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "elsewhere").exists()
    # --out naming the run's own directory is the same run, and fine
    assert main(["train", "sarsa", "--resume", str(out), "--out", str(out), "--no-progress"]) == 0


def test_a_finished_run_extends_to_a_larger_budget_only(tmp_path, capsys):
    out = tmp_path / "r"
    _sarsa(out, total=600).train(progress=False)
    assert main(["train", "sarsa", "--resume", str(out), "--total-steps", "1200", "--no-progress"]) == 0
    rows = read_metrics(out)
    assert rows[-1]["step"] >= 1200 and rows[0]["step"] < 600
    assert json.loads((out / "eval.json").read_text())["step"] == rows[-1]["step"]
    assert "total_steps = 1200" in (out / "config.toml").read_text()
    assert "total_steps changed from 600 to 1200" in (out / "run.log").read_text()
    capsys.readouterr()
    assert main(["train", "sarsa", "--resume", str(out), "--total-steps", "100"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert "total_steps=100 is below the step the run has reached" in err and "valid values are >= " in err
    assert main(["train", "sarsa", "--resume", str(out), "--total-steps", "5000", "--set", "alpha=0.1"]) == 2
    assert "alpha=0.1 (saved: 0.5). Only total_steps may change" in _one_line(capsys.readouterr().err)


@dataclass
class _DataConfig(RunConfig):
    env: str = "none"
    total_steps: int = 4
    checkpoint_every: int = 2
    eval_episodes: int = 1
    data: str = ""
    task_params: dict = field(default_factory=dict)


class _CountLines(Algorithm):
    """Reads its data file at construction and at evaluation, like the jsonl task and DPO do."""

    config_class = _DataConfig

    def __init__(self, config):
        super().__init__(config)
        self.lines = len(Path(config.data).read_text().splitlines())

    def step(self):
        self.global_step += 1
        return {"episode_return_mean": float(self.lines)}

    def evaluate(self, episodes):
        n = len(Path(self.config.data).read_text().splitlines())
        return {"mean_return": float(n), "std_return": 0.0, "episodes": episodes}

    def state_dict(self):
        return {"global_step": self.global_step}

    def load_state_dict(self, state):
        self.global_step = state["global_step"]


def test_relative_data_paths_are_stored_resolved(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "get_algorithm", lambda name: _CountLines)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("{}\n{}\n{}\n")
    (tmp_path / "rewards.py").write_text("def score(x): return 1.0\n")
    monkeypatch.chdir(tmp_path)
    config = _DataConfig(
        data="data/train.jsonl", task_params={"path": "data/train.jsonl", "reward": "rewards.py:score"}
    )
    assert resolve_paths(config).task_params == {
        "path": str(tmp_path / "data" / "train.jsonl"),
        "reward": f"{tmp_path / 'rewards.py'}:score",
    }
    assert resolve_paths(_DataConfig(env="CartPole-v1", data="missing.jsonl")).data == "missing.jsonl"
    run = Run.start("count", dataclasses.replace(config, total_steps=2), tmp_path / "run")
    run.train(progress=False)
    assert f'data = "{tmp_path / "data" / "train.jsonl"}"' in (tmp_path / "run" / "config.toml").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    Run.resume(tmp_path / "run", {"total_steps": 4}).train(progress=False)
    assert evaluate_run(tmp_path / "run")["mean_return"] == 3.0


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_files_are_created_with_the_users_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        out = tmp_path / "r"
        _sarsa(out, total=300).train(progress=False)
    finally:
        os.umask(old)
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith("events.out")]
    dirs = [p for p in out.rglob("*") if p.is_dir()]
    assert {"config.toml", "metrics.jsonl", "state.pt", "meta.json", "eval.json", "run.log"} <= {
        p.name for p in files
    }
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o666 & ~mask)}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in dirs} == {oct(0o777 & ~mask)}


def test_resume_of_a_run_dir_that_is_not_one_names_it(tmp_path):
    with pytest.raises(RewardlabError, match=f"'{tmp_path}' is not a rewardlab run directory"):
        Run.resume(tmp_path)
