"""Level 2 of scale-out: backend = "ray" rollout workers equal backend = "local" ones bit for bit,
resume bit for bit from a checkpoint, and survive a worker killed mid-iteration without changing
a number (or stop by name, checkpoint kept, when it keeps dying)."""

import os
import shutil
from pathlib import Path

import pytest
import torch

from rewardlab.core import ray_backend
from rewardlab.core.run import Run, checkpoints, is_timing_metric, new_config, read_metrics
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rl.ppo import PPO, PPOConfig

pytestmark = pytest.mark.ray

DYING = f"{Path(__file__).with_name('_dying_env.py')}:DyingCartPole"
SMALL = dict(num_envs=4, num_workers=2, n_steps=16, batch_size=32, n_epochs=2, seed=1)


def _strip(row):
    return {k: v for k, v in row.items() if not is_timing_metric(k)}


def _metrics(backend, env, iterations=3, evaluate=True, **kw):
    torch.set_num_threads(1)
    algo = PPO(PPOConfig(env=env, backend=backend, **SMALL, **kw))
    try:
        out = [_strip(algo.step()) for _ in range(iterations)]
        return out + ([algo.evaluate(2)] if evaluate else [])
    finally:
        algo.close()


def test_ray_rollout_workers_equal_local_ones_bit_for_bit(ray_cluster):
    # Pendulum cut at 20 steps: Gaussian actions, time-limit bootstraps from both workers. Discrete
    # actions: the killed-worker test below compares ray with local on CartPole.
    kw = {"env_kwargs": {"max_episode_steps": 20}}
    assert _metrics("ray", "Pendulum-v1", **kw) == _metrics("local", "Pendulum-v1", **kw)
    assert ray_backend._users == 0  # every actor released


def test_kill_and_resume_with_ray_rollout_workers_equals_the_uninterrupted_run(ray_cluster, tmp_path):
    torch.set_num_threads(1)
    sets = ["backend=ray", "num_workers=2", "num_envs=4", "n_steps=16", "batch_size=32", "n_epochs=2",
            "checkpoint_every=64", "eval_episodes=2"]  # fmt: skip
    config = new_config("ppo", sets=sets, cli={"env": "CartPole-v1", "total_steps": 192, "seed": 3})
    full = tmp_path / "full"
    Run.start("ppo", config, full).train(progress=False)
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    for p in checkpoints(cut)[1:]:  # killed after the first checkpoint
        shutil.rmtree(p)
    Run.resume(cut).train(progress=False)
    assert [_strip(r) for r in read_metrics(cut)] == [_strip(r) for r in read_metrics(full)]
    assert ray_backend._users == 0


def test_a_worker_killed_mid_iteration_is_restarted_from_its_snapshot_and_nothing_changes(
    ray_cluster, tmp_path
):
    marker = tmp_path / "died"
    kw = dict(env_kwargs={"die_at": 24, "marker": str(marker), "driver_pid": os.getpid()}, evaluate=False)
    got = _metrics("ray", DYING, **kw)  # a worker's env kills its process at its 24th step (iteration 2)
    assert marker.exists()  # one worker really died
    assert got == _metrics("local", DYING, **kw)  # in this process nobody dies: the reference
    assert ray_backend._users == 0


def test_a_worker_that_keeps_dying_stops_the_run_by_name_and_keeps_its_checkpoint(ray_cluster, tmp_path):
    env_kwargs = {"die_at": 24, "marker": str(tmp_path / "died"), "driver_pid": os.getpid(), "always": True}
    sets = ["backend=ray", "num_workers=1", "num_envs=2", "n_steps=16", "batch_size=32", "checkpoint_every=32",
            "max_worker_restarts=1"]  # fmt: skip
    config = new_config("ppo", sets=sets, cli={"env": DYING, "total_steps": 256, "seed": 3})
    config.env_kwargs = env_kwargs
    run_dir = tmp_path / "run"
    with pytest.raises(
        RewardlabError,
        match=r"Ray rollout worker 0 died 2 time\(s\) in one iteration .*max_worker_restarts = 1 used up\. "
        r"The run stopped, its last good checkpoint is kept",
    ):
        Run.start("ppo", config, run_dir).train(progress=False)
    assert [p.name for p in checkpoints(run_dir)] == ["step_0000000032"]  # the first iteration's
    assert ray_backend._users == 0


def test_a_worker_plan_that_cannot_be_scheduled_is_refused_before_any_actor_starts(ray_cluster):
    with pytest.raises(ConfigError, match=r"8 Ray rollout workers needs 8 logical CPUs .* has 4"):
        PPO(PPOConfig(env="CartPole-v1", num_envs=8, backend="ray", num_workers=8, worker_num_cpus=1.0))
    assert ray_backend._users == 0
