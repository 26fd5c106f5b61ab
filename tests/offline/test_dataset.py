"""OfflineDataset: exact next observations, trajectory windows, scores, and the Minari round trip."""

import json

import gymnasium as gym
import numpy as np
import pytest

from rewardlab.offline.dataset import DatasetError, OfflineDataset, TransitionSampler, resolve_dataset
from rewardlab.offline.generate import collect

from .conftest import pendulum_expert

minari = pytest.importorskip("minari")

OBS = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
ACT = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)


def _episode(t, start, terminated):
    obs = np.stack([np.arange(start, start + t + 1), -np.arange(start, start + t + 1)], 1).astype(np.float32)
    return {
        "observations": obs,
        "actions": np.full((t, 1), start / 10, np.float32),
        "rewards": np.arange(1, t + 1, dtype=np.float64),
        "terminations": np.array([False] * (t - 1) + [terminated]),
        "truncations": np.array([False] * (t - 1) + [not terminated]),
    }


def _toy():
    # episode 0: 3 steps, truncated (obs 0..3); episode 1: 2 steps, terminated (obs 10..12)
    return OfflineDataset.from_episodes([_episode(3, 0, False), _episode(2, 10, True)], OBS, ACT, name="toy")


def test_transitions_keep_the_final_observation_of_each_episode():
    t = _toy().transitions()
    assert t.observations[:, 0].tolist() == [0, 1, 2, 10, 11]
    # the truncated episode's last next_obs is its final observation (3), not the next episode's first
    assert t.next_observations[:, 0].tolist() == [1, 2, 3, 11, 12]
    assert t.terminations.tolist() == [False, False, False, False, True]
    assert t.truncations.tolist() == [False, False, True, False, False]


def test_returns_rtg_and_normalized_score():
    data = _toy()
    assert data.episode_returns().tolist() == [6.0, 3.0]  # 1+2+3, 1+2
    assert data.returns_to_go().tolist() == [6.0, 5.0, 3.0, 3.0, 2.0]
    data.ref_min_score, data.ref_max_score = -100.0, 300.0
    assert data.normalized_score(100.0) == pytest.approx(0.5)
    assert data.normalized_score([-100.0, 300.0]).tolist() == [0.0, 1.0]
    data.ref_max_score = None
    with pytest.raises(DatasetError, match="no reference scores"):
        data.normalized_score(1.0)


def test_trajectory_windows_are_left_padded_inside_one_episode():
    data = _toy()
    rng = np.random.default_rng(0)
    w = data.trajectory_windows(3, 64, rng)
    assert w["observations"].shape == (64, 3, 2) and w["actions"].shape == (64, 3, 1)
    for obs, rtg, ts, mask in zip(w["observations"][:, :, 0], w["returns_to_go"], w["timesteps"], w["mask"]):
        real = mask.astype(bool)
        assert real[-1] and (np.diff(real.astype(int)) >= 0).all()  # padding only on the left
        assert (obs[~real] == 0).all() and (rtg[~real] == 0).all()
        o = obs[real]
        assert (np.diff(o) == 1).all()  # consecutive steps of one episode
        expected_ts = o - (10 if o[0] >= 10 else 0)
        assert ts[real].tolist() == expected_ts.tolist()
    # every step can end a window: all 5 last observations occur
    assert set(w["observations"][:, -1, 0].tolist()) == {0, 1, 2, 10, 11}
    with pytest.raises(DatasetError, match="context 4 is longer than every episode"):
        data.trajectory_windows(4, 2, rng)


def test_sampler_is_reproducible_and_resumable():
    a, b = TransitionSampler(50, seed=1), TransitionSampler(50, seed=1)
    a.indices(8, 3)
    b.load_state_dict(a.state_dict())
    assert (a.indices(8, 2) == b.indices(8, 2)).all()
    with pytest.raises(DatasetError, match="dataset changed"):
        TransitionSampler(49, 1).load_state_dict(a.state_dict())


def test_bad_episodes_are_named_errors():
    bad = _episode(3, 0, False)
    bad["truncations"][-1] = False
    with pytest.raises(DatasetError, match="episode 1 has no episode end"):
        OfflineDataset.from_episodes([_episode(2, 0, True), bad], OBS, ACT, name="toy")
    short = _episode(3, 0, True)
    short["observations"] = short["observations"][:-1]
    with pytest.raises(DatasetError, match="3 observations for 3 steps"):
        OfflineDataset.from_episodes([short], OBS, ACT)
    with pytest.raises(DatasetError, match="no episodes"):
        OfflineDataset.from_episodes([], OBS, ACT)


def test_written_dataset_loads_in_minari_with_identical_arrays(minari_root):
    data = collect("Pendulum-v1", 450, pendulum_expert, "policy", seed=3)  # 200 + 200 + 50 (cut)
    data.ref_min_score, data.ref_max_score = -1200.0, -150.0
    path = data.to_minari("test/pendulum/expert-v0")
    assert path == minari_root / "test" / "pendulum" / "expert-v0"

    theirs = minari.load_dataset("test/pendulum/expert-v0")
    assert theirs.total_episodes == 3 and theirs.total_steps == 450
    for i, ep in enumerate(theirs.iterate_episodes()):
        mine = data.episode(i)
        for key in ("observations", "actions", "rewards", "terminations", "truncations"):
            np.testing.assert_array_equal(getattr(ep, key), mine[key])
    assert ep.observations.shape == (51, 3) and ep.truncations[-1]  # the cut episode keeps s_T
    assert minari.get_normalized_score(theirs, np.array([-675.0])) == pytest.approx(0.5)
    assert theirs.recover_environment().spec.id == "Pendulum-v1"

    back = OfflineDataset.load("test/pendulum/expert-v0")
    for key in ("observations", "actions", "rewards", "terminations", "truncations", "episode_lengths"):
        np.testing.assert_array_equal(getattr(back, key), getattr(data, key))
    assert (back.ref_min_score, back.ref_max_score) == (-1200.0, -150.0)
    assert back.env_id == "Pendulum-v1"
    assert OfflineDataset.load(path).num_steps == 450  # by directory as well as by id
    with pytest.raises(DatasetError, match="already exists"):
        data.to_minari("test/pendulum/expert-v0")


def test_a_relative_root_is_written_where_it_points(tmp_path, monkeypatch):
    # Minari joined a relative root twice (`data generate --root runs/minari` failed to write)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MINARI_DATASETS_PATH", raising=False)
    path = _toy().to_minari("test/toy/rel-v0", root="runs/minari")
    assert path == tmp_path / "runs" / "minari" / "test" / "toy" / "rel-v0"
    assert OfflineDataset.load(path).num_steps == 5


def test_missing_or_foreign_dataset_paths_are_named(tmp_path, minari_root):
    with pytest.raises(DatasetError, match=r"'nope/x-v0' does not exist \(looked at"):
        resolve_dataset("nope/x-v0")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.csv").write_text("1,2\n")
    with pytest.raises(DatasetError, match="is not a Minari dataset: .* found data.csv"):
        OfflineDataset.load(foreign)


def test_minari_dataset_without_episode_end_is_refused(minari_root):
    from minari.data_collector.episode_buffer import EpisodeBuffer

    ep = _episode(3, 0, False)
    ep["truncations"][-1] = False  # a logger that never marked the end
    minari.create_dataset_from_buffers(
        "test/toy/noend-v0", [EpisodeBuffer(id=0, infos={}, **ep)],
        observation_space=OBS, action_space=ACT, algorithm_name="x", author="x", author_email="x",
        code_permalink="x", description="x",
    )  # fmt: skip
    with pytest.raises(DatasetError, match="test/toy/noend-v0: episode 0 has no episode end"):
        OfflineDataset.load("test/toy/noend-v0")
    meta = json.loads((minari_root / "test/toy/noend-v0/data/metadata.json").read_text())
    assert meta["total_steps"] == 3
