"""An env that raises inside a rollout worker stops the run with a named error, once, for both
backends: no retry (it would replay the same steps into the same exception), the last good
checkpoint kept, no actor left behind. (A Ray worker whose *process* dies is retried:
test_rollout_workers.py.)"""

import os
from pathlib import Path

import pytest
import torch

from rewardlab.core import ray_backend
from rewardlab.core.run import Run, checkpoints, new_config
from rewardlab.rl.ppo import PPO, PPOConfig
from rewardlab.rl.rollout import RolloutWorkerError

RAISING = f"{Path(__file__).with_name('_dying_env.py')}:RaisingCartPole"
# worker 1's first env raises at its 24th step: inside the second iteration (16 steps each)
MESSAGE = (
    r"rollout worker 0 \(backend = '{backend}'\) raised RuntimeError: simulator lost its state at step 24\. "
    r"Not retried: .* The run stopped, its last good checkpoint is kept"
)


def test_an_env_that_raises_in_a_local_worker_stops_the_run_once_and_keeps_the_checkpoint(tmp_path):
    torch.set_num_threads(1)
    log = tmp_path / "raised"
    sets = ["backend=local", "num_workers=2", "num_envs=4", "n_steps=16", "batch_size=32", "n_epochs=1",
            "checkpoint_every=64"]  # fmt: skip
    config = new_config("ppo", sets=sets, cli={"env": RAISING, "total_steps": 512, "seed": 3})
    config.env_kwargs = {"raise_at": 24, "log": str(log)}
    run_dir = tmp_path / "run"
    with pytest.raises(RolloutWorkerError, match=MESSAGE.format(backend="local")) as info:
        Run.start("ppo", config, run_dir).train(progress=False)
    assert isinstance(info.value.__cause__, RuntimeError)  # the env's own exception, for the traceback
    # every env raises at its 24th step; worker 0's first env is the first to get there, and only once
    assert log.read_text().splitlines() == [str(os.getpid())]
    # the first iteration's checkpoint (64 steps) is kept; nothing of the failed second one is saved
    assert [p.name for p in checkpoints(run_dir)] == ["step_0000000064"]
    lock = run_dir / ".lock"
    assert not lock.exists() or not lock.read_text().strip()  # the directory is released


@pytest.mark.ray
def test_an_env_that_raises_in_a_ray_worker_is_the_same_named_error_not_a_restart(ray_cluster, tmp_path):
    torch.set_num_threads(1)
    log = tmp_path / "raised"
    config = PPOConfig(env=RAISING, backend="ray", num_workers=1, num_envs=2, n_steps=16, batch_size=32,
                       n_epochs=1, seed=3, env_kwargs={"raise_at": 24, "log": str(log)})  # fmt: skip
    algo = PPO(config)
    try:
        algo.step()
        with pytest.raises(RolloutWorkerError, match=MESSAGE.format(backend="ray")):
            algo.step()
    finally:
        algo.close()
    # it raised once, in the worker's own process: a restarted worker would have replayed it
    assert log.read_text().splitlines() != [str(os.getpid())] and len(log.read_text().splitlines()) == 1
    assert ray_backend._users == 0
