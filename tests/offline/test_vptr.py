"""V-PTR on a grid: ICVF's goal sampling mix, the data controller, the named errors; and (long) the
pre-trained representation against training from scratch."""

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.offline import vptr


def test_goal_rows_mix_random_future_and_current():
    # two trajectories: rows 0..4 (last row 4) and 5..9 (last row 9)
    traj_of = np.repeat([0, 1], 5)
    ends = np.array([4, 9])
    rows = np.tile(np.arange(10), 2000)
    goals = vptr.goal_rows(rows, traj_of, ends, 10, np.random.default_rng(0))
    same_traj = traj_of[goals] == traj_of[rows]
    ahead = same_traj & (goals >= rows)
    # random rows fall ahead in their own trajectory too, with probability (ends - row + 1) / 10
    p_ahead_random = np.mean((ends[traj_of[rows]] - rows + 1) / 10)
    assert np.mean(ahead) == pytest.approx(0.7 + 0.3 * p_ahead_random, abs=0.02)
    assert np.mean(goals == rows) >= 0.2 and (goals[~same_traj] >= 0).all()
    assert (goals[same_traj & ~ahead] < rows[same_traj & ~ahead]).all()  # only random goals lie behind


def test_grid_controller_walks_to_the_goal_and_errors_are_named():
    c = vptr.VPTRConfig(epsilon=0.0, size=5)
    grid = vptr.Grid(c, np.random.default_rng(0))
    cells, actions = grid.trajectory(np.array([4, 4]), np.random.default_rng(1))
    assert (cells[-1] == [4, 4]).all() and len(actions) == np.abs(cells[0] - [4, 4]).sum()
    assert grid.obs(cells).shape == (len(cells), c.obs_dim)
    with pytest.raises(ConfigError, match="grid size must be >= 3"):
        vptr.VPTRConfig(size=2).validate()
    with pytest.raises(ConfigError, match=">= 1 labelled"):
        vptr.VPTRConfig(labelled_trajectories=0).validate()


@pytest.mark.long
def test_pretrained_representation_beats_scratch():
    """Measured here: see docs/offline.md, "V-PTR" (benchmarks/vptr_grid.py, 5 seeds)."""
    torch.set_num_threads(1)
    out = vptr.experiment(vptr.VPTRConfig(seed=0, icvf_steps=1500, cql_steps=1000))
    assert out["pretrained"] > out["scratch"], out
