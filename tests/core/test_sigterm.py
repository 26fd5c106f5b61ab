"""SIGTERM (what `kill`, Slurm and Kubernetes send first) stops a CLI run the way Ctrl-C does.

Its default action ends the process at once, skipping `finally` blocks and atexit handlers: a run's
browsers (miniwob's pool quits them at exit), worker processes and env `close` were left behind.
The CLI turns it into an interrupt, so the Run closes what it opened and atexit runs."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rewardlab.core.run import checkpoints, verify_checkpoint

ROOT = Path(__file__).resolve().parents[2]

ENV_FILE = """
import atexit
import pathlib
import time

from gymnasium.envs.classic_control.cartpole import CartPoleEnv

HERE = pathlib.Path(__file__).parent
atexit.register(lambda: (HERE / "atexit_ran").touch())  # as miniwob's browser pool quits its browsers


class SlowCartPole(CartPoleEnv):
    def step(self, action):
        time.sleep(0.002)  # long enough that the run is still going when the test stops it
        return super().step(action)

    def close(self):
        (HERE / "env_closed").touch()
        super().close()
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_closes_the_run_runs_atexit_and_keeps_the_last_checkpoint(tmp_path):
    (tmp_path / "slow_env.py").write_text(textwrap.dedent(ENV_FILE))
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "rewardlab.cli", "train", "ppo",
        "--env", f"{tmp_path / 'slow_env.py'}:SlowCartPole",
        "--total-steps", "1000000", "--out", str(run_dir), "--no-progress",
        "--set", "num_envs=1", "--set", "n_steps=64", "--set", "batch_size=64",
        "--set", "n_epochs=1", "--set", "checkpoint_every=64",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not checkpoints(run_dir):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, (out, err)
    assert "terminated (SIGTERM)" in err and "--resume" in err, err
    assert (tmp_path / "env_closed").exists(), "the Run did not close its env"
    assert (tmp_path / "atexit_ran").exists(), "atexit handlers did not run"
    verify_checkpoint(checkpoints(run_dir)[-1])  # the newest checkpoint is whole
