"""Fault injection (marker ``faults``, run in CI): kill -9 at random points of 20 runs and resume, a full
disk at random points, two writers on one directory, a corrupted checkpoint, a deleted metrics file.

Runs are forked from the test process (everything is imported already, so a child costs milliseconds)
and killed or size-limited there; the parent then inspects the directory and resumes it in-process.
The random points come from a seeded generator, so a failure reproduces."""

import io
import json
import os
import random
import resource
import signal
import time
import traceback
from pathlib import Path

import pytest
import torch
from _resume import logged_metrics

from rewardlab.cli import main
from rewardlab.core import run as run_mod
from rewardlab.core.run import Run, checkpoints, evaluate_run, new_config, verify_checkpoint
from rewardlab.errors import CorruptCheckpointError, RewardlabError, RunLockedError, RunWriteError

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="fault injection forks the test process"),
]

CONFIGS = {
    "sarsa": (
        ["checkpoint_every=300", "episodes_per_step=1", "eval_episodes=1"],
        {"total_steps": 3000, "seed": 1},
    ),
    "ppo": (
        [
            "num_envs=2",
            "n_steps=64",
            "batch_size=64",
            "n_epochs=1",
            "checkpoint_every=256",
            "eval_episodes=1",
        ],
        {"env": "CartPole-v1", "total_steps": 1024, "seed": 1},
    ),
}


def _config(algo):
    sets, cli = CONFIGS[algo]
    return new_config(algo, sets=sets, cli=cli)


def _fit(run):
    try:
        run.fit(progress=False)
    finally:
        run.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run of each config: its metrics and final state (what every resume must equal)."""
    out = {}
    for algo in CONFIGS:
        d = tmp_path_factory.mktemp(f"ref-{algo}") / "run"
        _fit(Run.start(algo, _config(algo), d))
        out[algo] = logged_metrics(d)
    return out


def _forked(child, *, kill_after: float | None = None) -> int:
    """Run ``child()`` in a forked process; return its wait status. ``kill_after`` seconds: SIGKILL it."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 0
        try:
            child()
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return os.waitpid(pid, 0)[1]


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(point: str, k: int) -> None:
    """In the child: die by SIGKILL at the k-th occurrence of ``point``."""
    seen = {"n": 0}

    def hit() -> bool:
        seen["n"] += 1
        return seen["n"] == k

    if point == "metrics-append":  # half a line reaches metrics.jsonl
        real_append = run_mod.append_lines

        def append(path, lines):
            if Path(path).name == "metrics.jsonl" and hit():
                data = "".join(line + "\n" for line in lines).encode()
                with open(path, "ab") as f:
                    f.write(data[: len(data) // 2])
                _die()
            return real_append(path, lines)

        run_mod.append_lines = append
    elif point == "checkpoint-write":  # half of state.pt is on disk
        real_save = torch.save

        def save(obj, f, *a, **kw):
            if hit():
                buf = io.BytesIO()
                real_save(obj, buf)
                f.write(buf.getvalue()[: buf.tell() // 2])
                f.flush()
                _die()
            return real_save(obj, f, *a, **kw)

        torch.save = save
    elif point == "checkpoint-rename":  # a complete checkpoint, not yet renamed into place
        real_rename = os.rename

        def rename(src, dst):
            if Path(src).name.startswith(".tmp-step_") and hit():
                _die()
            return real_rename(src, dst)

        os.rename = rename


def _assert_clean(out: Path):
    """No temp file anywhere, every checkpoint verifies, metrics.jsonl is whole lines of JSON."""
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".tmp-") or p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    for ckpt in checkpoints(out):
        verify_checkpoint(ckpt)
    text = (out / "metrics.jsonl").read_text()
    assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())


def test_kill9_at_random_points_then_resume_gives_the_uninterrupted_metrics(tmp_path, reference):
    rng = random.Random(16)
    points = ["metrics-append", "checkpoint-write", "checkpoint-rename", "wall-clock"]
    resumed = 0
    for i in range(20):
        algo = "ppo" if i % 5 == 4 else "sarsa"
        point = points[i % len(points)]
        out = tmp_path / f"{i:02d}-{algo}-{point}"
        n_rows, n_ckpts = len(reference[algo]), 10 if algo == "sarsa" else 4
        k = rng.randint(2, n_rows) if point == "metrics-append" else rng.randint(1, n_ckpts)

        def child(algo=algo, point=point, k=k, out=out):
            _arm(point, k)
            _fit(Run.start(algo, _config(algo), out))

        kill_after = rng.uniform(0.05, 0.5) if point == "wall-clock" else None
        status = _forked(child, kill_after=kill_after)
        if point != "wall-clock":
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (out, status)
        if not checkpoints(out):  # killed before its first checkpoint: nothing to resume, and it says so
            with pytest.raises(RewardlabError, match="no complete checkpoint|not a rewardlab run directory"):
                Run.resume(out)
            continue
        _fit(Run.resume(out))
        resumed += 1
        assert logged_metrics(out) == reference[algo], f"{out.name}: metrics differ after resume"
        _assert_clean(out)
        if os.WIFSIGNALED(status):
            assert (
                "ended without releasing the directory (killed?); took over its lock"
                in (out / "run.log").read_text()
            )
    assert resumed >= 15


def test_full_disk_at_random_points_is_a_named_error_and_leaves_the_last_checkpoint_intact(
    tmp_path, reference
):
    rng = random.Random(4)
    messages = []
    for i in range(6):
        out = tmp_path / f"fs{i}"
        limit = rng.randint(200, 12_000)  # bytes per file: fails at start, mid-run, in a checkpoint, ...
        err_file = tmp_path / f"fs{i}.err"

        def child(out=out, limit=limit, err_file=err_file):
            config = _config("sarsa")
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            try:
                run = Run.start("sarsa", config, out)
                run.train(progress=False)
            except RunWriteError as e:
                resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                err_file.write_text(str(e))

        assert _forked(child) == 0
        if not err_file.exists():
            continue  # every file stayed under the limit
        msg = err_file.read_text()
        messages.append(msg)
        assert f"could not write '{out}" in msg and "File too large" in msg, msg
        if not out.exists():
            assert "config.toml" in msg or ".lock" in msg  # a start that failed left no directory behind
            continue
        ckpts = checkpoints(out)
        if ckpts:
            assert f"the last good checkpoint {ckpts[-1]} is intact" in msg, msg
        elif "Training stopped" in msg:
            assert "no checkpoint had been saved yet" in msg, msg
        if (out / "metrics.jsonl").exists():
            _assert_clean(out)
        if ckpts:
            _fit(Run.resume(out))
            assert logged_metrics(out) == reference["sarsa"]
    assert len(messages) >= 4


def test_two_writers_on_one_directory(tmp_path, reference, capsys):
    """A live writer holds the directory; a second one is refused with its pid; once the first is
    killed, its stale lock is taken over and the run resumes to the uninterrupted metrics."""
    out = tmp_path / "run"
    ready_r, ready_w = os.pipe()

    def child():
        real_save = torch.save

        def save(obj, f, *a, **kw):  # while writing the third checkpoint: tell the parent, then block
            real_save(obj, f, *a, **kw)
            if len(checkpoints(out)) == 2:
                os.write(ready_w, b"x")
                time.sleep(60)

        torch.save = save
        _fit(Run.start("sarsa", _config("sarsa"), out))

    pid = os.fork()
    if pid == 0:
        try:
            child()
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"x"
        with pytest.raises(RunLockedError) as err:
            Run.resume(out)
        assert f"is being written by pid {pid} on" in str(err.value)
        assert main(["train", "sarsa", "--resume", str(out), "--no-progress"]) == 2  # the CLI says the same
        err = " ".join(capsys.readouterr().err.split())
        assert f"pid {pid}" in err and "choose another --out" in err
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready_r)
        os.close(ready_w)
    _fit(Run.resume(out))
    assert logged_metrics(out) == reference["sarsa"]


def test_three_parallel_runs_without_out_get_three_directories(tmp_path, monkeypatch):
    """`for s in 0 1 2; do rewardlab train sarsa --env CliffWalking-v1 --seed $s & done`, as three forks."""
    monkeypatch.chdir(tmp_path)
    argv = ["train", "sarsa", "--env", "CliffWalking-v1", "--total-steps", "200", "--no-progress"]
    pids = []
    for seed in (0, 1, 2):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = main([*argv, "--seed", str(seed)])
            finally:
                os._exit(code)
        pids.append(pid)
    assert [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids] == [0, 0, 0]
    made = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert [n.split("-")[3] for n in made] == ["s0", "s1", "s2"]
    assert all((tmp_path / "runs" / n / "eval.json").is_file() for n in made)


def test_corrupted_newest_checkpoint_is_named_and_resume_and_eval_fall_back(tmp_path, reference, capsys):
    out = tmp_path / "run"
    run = Run.start("ppo", _config("ppo"), out)
    _fit(run)
    ckpts = checkpoints(out)
    newest, previous = ckpts[-1], ckpts[-2]
    for p in ckpts[-1:]:
        os.truncate(p / "state.pt", 5000)  # the issue's `truncate -s 5000 .../state.pt`
    result = evaluate_run(out, episodes=1)
    warning = " ".join(capsys.readouterr().err.split())
    assert result["checkpoint"] == str(previous)
    assert f"{newest / 'state.pt'} has 5000 bytes but" in warning and f"using {previous.name}" in warning
    resumed = Run.resume(out)
    assert resumed.algo.global_step == int(previous.name.split("_")[1])
    _fit(resumed)
    assert logged_metrics(out) == reference["ppo"]
    assert "corrupt checkpoint(s) (renamed to corrupt-step_*)" in (out / "run.log").read_text()
    assert (newest.with_name(f"corrupt-{newest.name}") / "state.pt").stat().st_size == 5000  # kept, set aside
    verify_checkpoint(checkpoints(out)[-1])  # the bad one was written again, whole
    # same size, one byte changed: the checksum catches it; every checkpoint bad: an error naming them
    for p in checkpoints(out):
        data = bytearray((p / "state.pt").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (p / "state.pt").write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError) as err:
        Run.resume(out)
    assert "no checkpoint of" in str(err.value) and "sha256" in str(err.value)
    assert str(checkpoints(out)[0] / "state.pt") in str(err.value)


def test_deleted_metrics_file_is_named_on_resume_and_nothing_changes(tmp_path):
    out = tmp_path / "run"
    _fit(Run.start("sarsa", _config("sarsa"), out))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != "metrics.jsonl"}
    (out / "metrics.jsonl").unlink()
    with pytest.raises(RewardlabError) as err:
        Run.resume(out)
    msg = str(err.value)
    assert f"{out / 'metrics.jsonl'} was deleted" in msg and "Restore the file" in msg
    assert not (out / "metrics.jsonl").exists()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
