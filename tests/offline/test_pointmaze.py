"""PointMaze (gymnasium-robotics): flat observations, the waypoint controller's cell geometry against
the maze's own conversions, its breadth-first plan by hand, a controller that reaches the goal where
random actions do not, and a dataset that Minari loads and BC trains on."""

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics", reason="the offline extra (gymnasium-robotics) is not installed")
pytest.importorskip("minari", reason="the offline extra is not installed")

import gymnasium as gym  # noqa: E402

from rewardlab.envs import register_gymnasium  # noqa: E402
from rewardlab.errors import ConfigError  # noqa: E402
from rewardlab.offline import pointmaze  # noqa: E402

register_gymnasium()


def test_cells_match_the_maze_and_the_plan_is_breadth_first():
    env = gym.make("pointmaze-medium")
    maze = env.unwrapped.maze
    xy = np.random.default_rng(0).uniform(-3.9, 3.9, (50, 2))
    ours = pointmaze.xy_to_cell(xy, 8, 8)
    assert ours.tolist() == [list(maze.cell_xy_to_rowcol(p)) for p in xy]
    assert np.allclose(pointmaze.cell_to_xy(ours, 8, 8), [maze.cell_rowcol_to_xy(c) for c in ours])
    env.close()
    # UMaze: open cells (1,1) (1,2) (1,3) / (2,3) / (3,1) (3,2) (3,3); from the goal (1,1) the U is 0..6
    dist = pointmaze.distance_field(pointmaze._maze_map("UMaze"), (1, 1))
    assert [dist[c] for c in ((1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1))] == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    assert dist[0, 0] == np.inf and dist[2, 1] == np.inf  # walls
    with pytest.raises(ConfigError, match="maze 'Large' is not one of UMaze, Medium"):
        pointmaze.FlatPointMaze("Large")


def test_the_waypoint_controller_reaches_the_goal_and_random_actions_do_not():
    """Medium maze, 6 seeded episodes of 600 steps: the controller reaches the goal in every one,
    uniform random actions in few (the sparse reward counts steps within 0.45 of the goal)."""
    env = gym.make("pointmaze-medium")
    act = pointmaze.waypoint_controller("Medium")
    rng = np.random.default_rng(0)
    reached = {"controller": 0, "random": 0}
    for arm in reached:
        for seed in range(6):
            obs, _ = env.reset(seed=seed)
            assert obs.shape == (6,)
            ret, done = 0.0, False
            while not done:
                a = act(obs[None])[0] if arm == "controller" else rng.uniform(-1, 1, 2)
                obs, r, terminated, truncated, _ = env.step(a)
                ret, done = ret + r, terminated or truncated
            reached[arm] += ret > 0
    env.close()
    assert reached["controller"] == 6 and reached["random"] <= 2, reached


def test_generated_dataset_loads_in_minari_and_bc_trains_on_it(tmp_path, minari_root):
    import minari

    from rewardlab.core.run import Run, new_config
    from rewardlab.offline.generate import generate

    path = generate("pointmaze-umaze", "policy", 600, "t/pointmaze/noisy-v0", policy_run="builtin", noise=0.5,
                    ref_episodes=1)  # fmt: skip
    ds = minari.load_dataset("t/pointmaze/noisy-v0")
    episodes = list(ds.iterate_episodes())
    assert [len(e.actions) for e in episodes] == [300, 300] and episodes[0].observations.shape == (301, 6)
    assert np.abs(episodes[0].actions).max() <= 1 and ds.recover_environment().spec.id == "pointmaze-umaze"
    config = new_config("bc", sets=[f"dataset={path}", "log_every=50", "eval_episodes=1", "hidden_sizes=[32, 32]"],
                        cli={"total_steps": 100})  # fmt: skip
    result = Run.start("bc", config, tmp_path / "bc").train(progress=False)
    assert result["episodes"] == 1 and "normalized_score" in result
