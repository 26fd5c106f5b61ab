"""The Python API and the CLI on a user's own Gymnasium env defined in this file: PPO learns it through
``rewardlab.train`` and through ``rewardlab train --env THIS_FILE:BitCopy``; ``load(run).predict``
takes the actions of the run's own evaluation; an env without an import path is refused by name."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import rewardlab
from rewardlab.registry import UnrebuildableError

HORIZON = 8
FAST = dict(num_envs=2, n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3, eval_episodes=4)
SRC = str(Path(rewardlab.__file__).resolve().parents[1])


class BitCopy(gym.Env):
    """Copy the observed bit: reward 2^-t at step t when the action equals the bit. The return holds the
    whole pattern of right and wrong actions in its binary digits, so equal returns mean equal actions."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.bit = int(self.np_random.integers(2))
        return np.array([self.bit], np.float32), {}

    def step(self, action):
        reward = 2.0**-self.t if int(action) == self.bit else 0.0
        self.t += 1
        self.bit = int(self.np_random.integers(2))
        return np.array([self.bit], np.float32), reward, False, self.t >= HORIZON, {}


def _replay(agent, seeds):
    """Returns of the agent's own predictions on fresh BitCopy envs reset with ``seeds``."""
    returns = []
    for seed in seeds:
        env = BitCopy()
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action, state = agent.predict(obs, deterministic=True)
            assert state is None and np.shape(action) == ()
            obs, r, terminated, truncated, _ = env.step(action)
            total += r
            done = terminated or truncated
        returns.append(total)
    return returns


def test_user_env_class_trained_by_ppo_through_the_api(tmp_path):
    run = rewardlab.train(
        "ppo", env=BitCopy, total_steps=3072, seed=0, out=tmp_path / "run", progress=False, **FAST
    )
    assert run.dir == tmp_path / "run"
    assert (run.dir / "config.toml").read_text().count(f'env = "{__file__}:BitCopy"') == 1
    assert run.metrics[-1]["step"] == 3072
    # it learned: a random policy copies half of the bits (expected return 1 - 2^-8 ~ 1.0); all = 1.99
    assert run.eval["mean_return"] > 1.9
    assert run.metrics[-1]["episode_return_mean"] > run.metrics[0]["episode_return_mean"]

    # load(run).predict takes the run's own evaluation actions (PPO evaluates on seeds seed+10000+i)
    with rewardlab.load(run.dir) as agent:
        assert agent.step == 3072
        assert _replay(agent, [10_000 + i for i in range(4)]) == run.eval["returns"]
        batch, _ = agent.predict(np.array([[0.0], [1.0], [1.0]], np.float32))
        assert batch.tolist() == [0, 1, 1]
        assert agent.evaluate()["returns"] == run.eval["returns"]


def test_user_env_by_file_path_through_the_cli(tmp_path):
    # here, not at the top: the CLI processes import this file for BitCopy, without tests/ on sys.path
    from _resume import killed_after_checkpoint, logged_metrics

    env_path = f"{__file__}:BitCopy"
    sets = [x for k, v in FAST.items() for x in ("--set", f"{k}={v}")]
    cmd = [sys.executable, "-m", "rewardlab.cli", "train", "ppo", "--env", env_path, "--total-steps", "1024",
           "--out", "run", "--no-progress", "--set", "checkpoint_every=512", *sets]  # fmt: skip
    environ = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(cmd, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"Training ppo on {env_path}" in " ".join(done.stdout.split())
    saved = json.loads((tmp_path / "run" / "eval.json").read_text())
    full = logged_metrics(tmp_path / "run")

    # resume in a new process from the first checkpoint: the env (pickled in the checkpoint) is a
    # class of the file's module, which the new process imports again from config.toml
    killed_after_checkpoint(tmp_path / "run", -1)
    resume = [sys.executable, "-m", "rewardlab.cli", "train", "ppo", "--resume", "run", "--no-progress"]
    done = subprocess.run(resume, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert logged_metrics(tmp_path / "run") == full
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["returns"] == saved["returns"]
    # eval from another directory, in another process, rebuilds the env from config.toml
    done = subprocess.run([sys.executable, "-m", "rewardlab.cli", "eval", str(tmp_path / "run"), "--json"],
                          env=environ, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["returns"] == saved["returns"]


def test_env_without_import_path_is_refused_by_name_on_eval_and_resume(tmp_path):
    run = rewardlab.train(
        "ppo", env=lambda: BitCopy(), total_steps=256, out=tmp_path / "run", progress=False, **FAST
    )
    recorded = next(
        line for line in (run.dir / "config.toml").read_text().splitlines() if line.startswith("env")
    )
    assert recorded.startswith('env = "<object env ') and "<lambda>" in recorded
    for attempt in (lambda: rewardlab.load(run.dir), lambda: rewardlab.evaluate(run.dir),
                    lambda: rewardlab.train("ppo", resume=run.dir, total_steps=256, progress=False)):  # fmt: skip
        with pytest.raises(UnrebuildableError, match="as a Python object with no import path"):
            attempt()
    # the CLI says so too, without a traceback
    done = subprocess.run([sys.executable, "-m", "rewardlab.cli", "eval", str(run.dir)],
                          env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr
    assert "<lambda>" in done.stderr and "no import path" in " ".join(done.stderr.split())
