"""The replay split: a run's saved replay buffer cut back into episodes, by hand and from a SAC run."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.core.run import Run, checkpoints, new_config
from rewardlab.offline.dataset import DatasetError, OfflineDataset
from rewardlab.offline.generate import generate, oldest_rows, replay_episodes
from rewardlab.rl.buffers import ReplayBuffer

pytest.importorskip("minari")


def _buffer(capacity, steps, num_envs=2):
    """``steps`` vector steps of ``num_envs`` envs; env i's observation at its step t is 100 i + t,
    env 0 terminates at its step 2, env 1 is cut at its step 3 (truncated)."""
    buf = ReplayBuffer(capacity, (1,), (1,), np.float32, num_envs=num_envs)
    t_env = np.zeros(num_envs, int)
    for _ in range(steps):
        obs = (100 * np.arange(num_envs) + t_env)[:, None].astype(np.float32)
        term = np.array([t_env[0] == 2, False][:num_envs])
        trunc = np.array([False, t_env[1] == 3][:num_envs])
        buf.add(
            obs, obs + 1, np.full((num_envs, 1), 0.5, np.float32), np.ones(num_envs, np.float32), term, trunc
        )
        t_env = np.where(term | trunc, 0, t_env + 1)
    return buf.state_dict()


def test_replay_episodes_follow_each_env_stream_and_keep_the_final_observation():
    space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    eps = replay_episodes(_buffer(capacity=20, steps=6), 2, space)
    # env 0: steps 0-2 terminated, twice; env 1: steps 0-3 truncated, then 2 steps still unfinished
    assert [len(e["rewards"]) for e in eps] == [3, 3, 4, 2]
    assert eps[0]["observations"].ravel().tolist() == [0, 1, 2, 3] and eps[0]["terminations"][-1]
    assert eps[1]["terminations"][-1] and not eps[1]["truncations"].any()
    assert eps[2]["observations"].ravel().tolist() == [100, 101, 102, 103, 104] and eps[2]["truncations"][-1]
    assert eps[3]["truncations"][-1] and not eps[3]["terminations"].any()  # the unfinished tail: cut
    assert np.all(eps[0]["actions"] == 1.0)  # 0.5 in [-1, 1] is 1.0 in [-2, 2]


def test_a_wrapped_buffer_starts_with_its_oldest_row():
    space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    eps = replay_episodes(_buffer(capacity=8, steps=6, num_envs=2), 2, space)  # 12 rows into 8
    first_env0 = eps[0]["observations"].ravel().tolist()
    assert first_env0[0] == 2  # env 0's steps 0-1 were overwritten; its oldest kept is step 2
    assert sum(len(e["rewards"]) for e in eps) == 8
    with pytest.raises(DatasetError, match="empty"):
        replay_episodes({"rewards": np.zeros(0), "full": False, "pos": 0}, 1, space)


def test_oldest_rows_of_a_wrapped_buffer_are_its_oldest_steps():
    buf = _buffer(capacity=8, steps=6, num_envs=2)  # 12 rows into 8: vector steps 2..5 remain
    cut = oldest_rows(buf, 4, 2)
    assert not cut["full"] and cut["pos"] == 4
    assert cut["obs"].ravel().tolist() == [2, 102, 0, 103]  # vector steps 2 and 3, env 0 then env 1
    assert oldest_rows(_buffer(capacity=20, steps=6), 3, 2)["obs"].ravel().tolist() == [0, 100, 1]
    with pytest.raises(DatasetError, match=r"--steps 9: the buffer holds 8 transitions; valid: 1\.\.8"):
        oldest_rows(buf, 9, 2)


def test_generate_replay_from_a_sac_run(tmp_path, minari_root):
    sets = ["hidden_sizes=[16, 16]", "batch_size=16", "learning_starts=50", "log_every=100",
            "checkpoint_every=200", "eval_episodes=1"]  # fmt: skip
    config = new_config("sac", sets=sets, cli={"env": "Pendulum-v1", "total_steps": 400, "seed": 0})
    Run.start("sac", config, tmp_path / "sac").train(progress=False)
    path = generate("Pendulum-v1", "replay", 300, "t/pendulum/replay-v0", policy_run=tmp_path / "sac",
                    ref_episodes=2)  # fmt: skip
    data = OfflineDataset.load(path)
    assert data.num_steps == 300 and data.num_episodes == 2  # one 200-step episode, then 100 of the next
    t = data.transitions()
    # within an episode the next observation is the following step's observation
    assert np.allclose(t.next_observations[:199], t.observations[1:200])
    assert np.abs(data.actions).max() <= 2.0 and np.abs(data.actions).max() > 1.0  # env units
    # the split is the run's buffer itself: its first 300 rows, actions mapped from [-1, 1] to [-2, 2]
    buf = torch.load(checkpoints(tmp_path / "sac")[-1] / "state.pt", weights_only=False)["algo"]["buffer"]
    assert len(buf["rewards"]) == 400 and not buf["full"]
    assert np.array_equal(t.observations, buf["obs"][:300])
    assert np.array_equal(t.next_observations, buf["next_obs"][:300])
    assert np.allclose(t.actions, 2.0 * buf["actions"][:300], rtol=0, atol=1e-6)
    assert np.array_equal(t.rewards, buf["rewards"][:300].astype(np.float64))
    assert np.array_equal(t.terminations, buf["dones"][:300] > 0)
    assert np.array_equal(t.truncations[:-1], buf["truncated"][:299]) and t.truncations[-1]
    with pytest.raises(DatasetError, match="holds 400 transitions"):
        generate("Pendulum-v1", "replay", 401, "t/y-v0", policy_run=tmp_path / "sac", ref_episodes=1)
    with pytest.raises(DatasetError, match="needs --policy RUN_DIR"):
        generate("Pendulum-v1", "replay", 300, "t/x-v0", policy_run=None)
