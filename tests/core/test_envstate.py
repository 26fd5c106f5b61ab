"""Env snapshots that really restore (rewardlab.core.envstate): MuJoCo physics, Box2D by replay,
pickle for pure-Python envs, and an error naming the env when none of these can restore it."""

import copy
import itertools
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch
from _resume import comparable_result, killed_after_checkpoint, logged_metrics

from rewardlab.core.envstate import EnvStateError, Snapshot, snapshot_method
from rewardlab.core.run import Run, new_config

mujoco = pytest.importorskip(
    "mujoco", reason="the control extra is not installed (pip install 'rewardlab[control]')"
)
pytest.importorskip("Box2D", reason="the control extra is not installed (pip install 'rewardlab[control]')")


def _actions(env, n, seed=0, scale=0.3):
    rng = np.random.default_rng(seed)
    return [(scale * rng.uniform(-1, 1, env.action_space.shape)).astype(np.float32) for _ in range(n)]


def _rollout(env, actions):
    """(obs, reward, terminated, truncated) of each step; resets (without a seed) when an episode ends."""
    out = []
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        out.append((obs.copy(), float(r), bool(term), bool(trunc)))
        if term or trunc:
            obs, _ = env.reset()
            out.append((obs.copy(), None, None, None))
    return out


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x[0], y[0]) and x[1:] == y[1:] for x, y in zip(a, b))


def _restore_into_fresh(env_id, snap, **kwargs):
    fresh = Snapshot(gym.make(env_id, **kwargs))
    fresh.reset(seed=12345)  # a different episode, some steps in: the restore must overwrite all of it
    _rollout(fresh, _actions(fresh, 7, seed=9))
    fresh.set_snapshot([copy.deepcopy(snap)])
    return fresh


# -- MuJoCo ------------------------------------------------------------------------------------


def test_hopper_snapshot_continues_identically_through_time_limit_and_next_episode():
    env = Snapshot(gym.make("Hopper-v5", max_episode_steps=40))
    assert env.method == "mujoco"
    env.reset(seed=1)
    _rollout(env, _actions(env, 25, seed=1, scale=0.1))
    assert env.env._elapsed_steps == 25
    snap = pickle.loads(pickle.dumps(env.get_snapshot()))  # as a checkpoint stores it
    future = _actions(env, 60, seed=2, scale=0.1)  # crosses the 40-step limit, then a new episode
    reference = _rollout(env, future)
    assert any(step[3] for step in reference), "the continuation must reach the time limit"
    restored = _restore_into_fresh("Hopper-v5", snap, max_episode_steps=40)
    assert restored.env._elapsed_steps == 25
    # the next episode's start is drawn from the env's generator, restored too
    assert _same(_rollout(restored, future), reference)


def test_mujoco_pickle_loses_the_physics():
    """The bug this module fixes: EzPickle rebuilds HalfCheetah from its constructor arguments."""
    env = gym.make("HalfCheetah-v5")
    env.reset(seed=0)
    _rollout(env, _actions(env, 20))
    copied = pickle.loads(pickle.dumps(env))
    copied.reset(seed=0)  # the fresh simulator must be reset before it steps
    future = _actions(env, 5, seed=1)
    assert not _same(_rollout(copied, future), _rollout(env, future))


def test_hopper_snapshot_refuses_another_model():
    env = Snapshot(gym.make("Hopper-v5"))
    env.reset(seed=0)
    snap = env.get_snapshot()
    snap["sizes"] = (1, 1, 1, 0)
    with pytest.raises(EnvStateError, match=r"'Hopper-v5': the checkpoint's MuJoCo model has sizes"):
        Snapshot(gym.make("Hopper-v5")).set_snapshot([snap])


def test_integration_state_alone_does_not_restore_ant():
    """Why the snapshot copies the whole MjData: Ant reads body positions that mj_step leaves from
    its last sub-step, which mjSTATE_INTEGRATION does not hold (the control arm of the test above)."""
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    env = gym.make("Ant-v5")
    env.reset(seed=1)
    _rollout(env, _actions(env, 10, seed=1))
    u = env.unwrapped
    physics = np.empty(mujoco.mj_stateSize(u.model, spec))
    mujoco.mj_getState(u.model, u.data, physics, spec)
    generator, elapsed = copy.deepcopy(u.np_random.bit_generator.state), env._elapsed_steps
    future = _actions(env, 5, seed=2)
    reference = _rollout(env, future)

    other = gym.make("Ant-v5")
    other.reset(seed=7)
    mujoco.mj_setState(other.unwrapped.model, other.unwrapped.data, physics, spec)
    mujoco.mj_forward(other.unwrapped.model, other.unwrapped.data)
    other.unwrapped.np_random.bit_generator.state = generator
    other._elapsed_steps = elapsed
    assert reference[0][1] != _rollout(other, future)[0][1]  # the first reward already differs

    env2 = Snapshot(gym.make("Ant-v5"))
    env2.reset(seed=1)
    _rollout(env2, _actions(env2, 10, seed=1))
    restored = _restore_into_fresh("Ant-v5", env2.get_snapshot())
    assert _same(_rollout(restored, future), reference)


# -- Box2D: replay -----------------------------------------------------------------------------


def test_lunar_lander_pickle_loses_the_simulation():
    """The bug this module fixes: EzPickle rebuilds a fresh, never-reset LunarLander on unpickling."""
    env = gym.make("LunarLanderContinuous-v3")
    env.reset(seed=0)
    _rollout(env, _actions(env, 5))
    with pytest.raises(Exception):  # noqa: B017  (whatever the fresh simulator raises on its first step)
        pickle.loads(pickle.dumps(env)).unwrapped.step(np.zeros(2, dtype=np.float32))


@pytest.mark.parametrize("after_autoreset", [False, True], ids=["seeded-reset", "after-autoreset"])
def test_lunar_lander_replay_restores(after_autoreset):
    env = Snapshot(gym.make("LunarLanderContinuous-v3", max_episode_steps=30))
    assert env.method == "replay"
    env.reset(seed=3)
    _rollout(env, _actions(env, 45 if after_autoreset else 12, seed=3))  # 45: into a second episode
    assert (env._reset_record["seed"] is None) == after_autoreset
    snap = pickle.loads(pickle.dumps(env.get_snapshot()))
    future = _actions(env, 50, seed=4)
    reference = _rollout(env, future)
    restored = _restore_into_fresh("LunarLanderContinuous-v3", snap, max_episode_steps=30)
    assert _same(_rollout(restored, future), reference)


class CoinEnv(gym.Env):
    """A random walk that pickles by rebuilding (like EzPickle) and draws its noise from a
    process-wide counter instead of its seed: no method can restore it."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    _draws = itertools.count()

    def __reduce__(self):
        return (CoinEnv, ())

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = np.zeros(1)
        return self.x.copy(), {}

    def step(self, action):
        self.x = self.x + float(action[0]) + np.random.default_rng(next(self._draws)).normal()
        return self.x.copy(), -abs(float(self.x[0])), False, False, {}


gym.register("rewardlab-test/Coin-v0", entry_point=CoinEnv, max_episode_steps=20)


def test_methods_are_chosen_by_what_the_env_supports():
    assert snapshot_method(gym.make("CartPole-v1")) == "pickle"
    assert snapshot_method(gym.make("HalfCheetah-v5")) == "mujoco"
    assert snapshot_method(gym.make("LunarLander-v3")) == "replay"
    assert snapshot_method(gym.make("rewardlab-test/Coin-v0")) == "replay"


def test_an_env_that_cannot_be_restored_is_named():
    env = Snapshot(gym.make("rewardlab-test/Coin-v0"))
    env.reset(seed=0)
    _rollout(env, _actions(env, 4))
    with pytest.raises(EnvStateError, match=r"'rewardlab-test/Coin-v0' \(sub-env 0\) cannot be restored"):
        Snapshot(gym.make("rewardlab-test/Coin-v0")).set_snapshot([env.get_snapshot()])


# -- PPO kill-and-resume on MuJoCo and Box2D -----------------------------------------------------

PPO_TINY = [
    "num_envs=2",
    "n_steps=32",
    "batch_size=32",
    "n_epochs=1",
    "checkpoint_every=64",
    "eval_episodes=1",
]


@pytest.mark.parametrize(
    "env,sets",
    # 50-step episodes: both runs log returns, and the cut falls 14 steps into an episode
    [
        ("HalfCheetah-v5", ["env_kwargs={max_episode_steps=50}"]),
        ("LunarLanderContinuous-v3", ["env_kwargs={max_episode_steps=50}"]),
    ],  # fmt: skip
    ids=["halfcheetah", "lunarlander"],
)
def test_ppo_kill_and_resume_is_bit_identical(tmp_path, env, sets):
    torch.set_num_threads(1)
    config = new_config("ppo", sets=[*PPO_TINY, *sets], cli={"env": env, "total_steps": 256, "seed": 5})
    full = tmp_path / "full"
    result = Run.start("ppo", config, full).train(progress=False)
    cut = killed_after_checkpoint(full, 2, copy_to=tmp_path / "cut")  # killed mid-run, between episodes' ends
    again = Run.resume(cut).train(progress=False)
    assert logged_metrics(cut) == logged_metrics(full)
    assert comparable_result(again) == comparable_result(result)


def test_resume_stops_before_running_when_an_env_cannot_be_restored(tmp_path):
    config = new_config("ppo", sets=PPO_TINY, cli={"env": "rewardlab-test/Coin-v0", "total_steps": 192})
    out = tmp_path / "run"
    Run.start("ppo", config, out).train(progress=False)
    killed_after_checkpoint(out, 1)
    before = (out / "metrics.jsonl").read_text()
    with pytest.raises(
        EnvStateError, match=r"environment 'rewardlab-test/Coin-v0' \(sub-env 0\) cannot be restored"
    ):
        Run.resume(out)
    assert (out / "metrics.jsonl").read_text() == before  # nothing ran, nothing was cut
