"""Level 2 of scale-out: backend = "ray" rollout workers equal backend = "local" ones bit for bit,
resume bit for bit from a checkpoint, and survive a worker killed mid-iteration without changing
a number (or stop by name, checkpoint kept, when it keeps dying).

Every Ray run starts one actor process per worker (about 3.5 CPU-seconds: torch's import), so the
contracts share runs where they can: the Ray test budget is 60 s on 2 cores (docs/scale_out.md)."""

import os
from pathlib import Path

import pytest
import torch
from _resume import comparable_result, killed_after_checkpoint, logged_metrics

from rewardlab.core import ray_backend
from rewardlab.core.run import Run, checkpoints, new_config
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rl.ppo import PPO, PPOConfig

pytestmark = pytest.mark.ray

DYING = f"{Path(__file__).with_name('_dying_env.py')}:DyingCartPole"
DYING_PENDULUM = f"{Path(__file__).with_name('_dying_env.py')}:DyingPendulum"
RUN = ["num_workers=2", "num_envs=4", "n_steps=16", "batch_size=32", "n_epochs=2", "checkpoint_every=64",
       "eval_episodes=2"]  # fmt: skip


def _train(backend, run_dir, env_kwargs):
    config = new_config(
        "ppo", sets=[f"backend={backend}", *RUN], cli={"env": DYING_PENDULUM, "total_steps": 192, "seed": 3}
    )
    config.env_kwargs = env_kwargs
    return Run.start("ppo", config, run_dir).train(progress=False)


def test_ray_workers_equal_local_ones_survive_a_killed_worker_and_resume_bit_for_bit(ray_cluster, tmp_path):
    """One Ray cluster of workers, three contracts (each Ray run costs an actor start per worker):
    ray(2, 2) == local(2, 2) on Pendulum cut at 20 steps (Gaussian actions, time-limit bootstraps
    from both workers, evaluation split over the workers); a worker whose process dies inside the
    second iteration is restarted from its snapshot without changing a number; and the Ray run
    cut back to its first checkpoint resumes to the same numbers."""
    torch.set_num_threads(1)
    marker = tmp_path / "died"
    kw = {"die_at": 24, "marker": str(marker), "driver_pid": os.getpid(), "max_episode_steps": 20}
    local = _train("local", tmp_path / "local", kw)  # in this process nobody dies: the reference
    assert not marker.exists()
    remote = _train("ray", tmp_path / "ray", kw)
    assert marker.exists()  # one worker's process really died (at its envs' 24th step: iteration 2)
    assert logged_metrics(tmp_path / "ray") == logged_metrics(tmp_path / "local")
    assert comparable_result(remote) == comparable_result(local)
    cut = killed_after_checkpoint(tmp_path / "ray", 1, copy_to=tmp_path / "cut")
    resumed = Run.resume(cut).train(progress=False)
    assert logged_metrics(cut) == logged_metrics(tmp_path / "local")
    assert comparable_result(resumed) == comparable_result(local)
    assert ray_backend._users == 0  # every actor released


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
