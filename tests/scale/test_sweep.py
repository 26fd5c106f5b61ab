"""rewardlab sweep: the plan is the grid x seeds, each run is an ordinary train process with its own
directory, and the Ray backend gives the same runs as the local one."""

import json

import pytest
from _resume import comparable_result, logged_metrics

from rewardlab.cli import main
from rewardlab.core import sweep
from rewardlab.core.run import Run, new_config
from rewardlab.errors import ConfigError

CONFIG = 'algo = "sarsa"\nenv = "CliffWalking-v1"\ntotal_steps = 3000\neval_episodes = 1\n'


def test_seed_ranges_and_lists():
    assert sweep.parse_seeds("0-3") == [0, 1, 2, 3]
    assert sweep.parse_seeds("0-1,7") == [0, 1, 7]
    for bad in ("a-b", "3,3", "-1", ""):
        with pytest.raises(ConfigError, match="--seeds"):
            sweep.parse_seeds(bad)


def test_grid_is_the_product_of_each_keys_values_and_keeps_lists_whole():
    grid = sweep.expand_grid(["learning_rate=1e-4,3e-4", "hidden_sizes=[64, 64],[32]"])
    assert grid == [
        (("learning_rate", "1e-4"), ("hidden_sizes", "[64, 64]")),
        (("learning_rate", "1e-4"), ("hidden_sizes", "[32]")),
        (("learning_rate", "3e-4"), ("hidden_sizes", "[64, 64]")),
        (("learning_rate", "3e-4"), ("hidden_sizes", "[32]")),
    ]
    with pytest.raises(ConfigError, match=r"--set expects key=value1,value2,..., got 'lr'"):
        sweep.expand_grid(["lr"])


def test_a_config_without_algorithm_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('env = "CliffWalking-v1"\n')
    with pytest.raises(ConfigError, match=r"c\.toml' names no algorithm: add algo"):
        sweep.plan(path, seeds=[0])


def test_local_sweep_writes_one_run_per_point_and_seed_and_a_plot(tmp_path, capsys):
    config = tmp_path / "sarsa.toml"
    config.write_text(CONFIG)
    out = tmp_path / "sw"
    assert main(["sweep", str(config), "--seeds", "0-1", "--set", "alpha=0.1,0.5", "--out", str(out)]) == 0
    results = json.loads((out / "sweep.json").read_text())
    assert [(r["sets"], r["seed"]) for r in results] == [
        ([["alpha", "0.1"]], 0),
        ([["alpha", "0.1"]], 1),
        ([["alpha", "0.5"]], 0),
        ([["alpha", "0.5"]], 1),
    ]
    assert all(r["returncode"] == 0 and "mean_return" in r["eval"] for r in results)
    assert (out / "alpha=0.5" / "seed1" / "config.toml").read_text().count("alpha = 0.5") == 1
    assert (out / "sweep.png").stat().st_size > 0
    # a second sweep into the same directory would mix runs: refused by name
    assert main(["sweep", str(config), "--seeds", "0", "--set", "alpha=0.1", "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err


@pytest.mark.ray
def test_ray_sweep_gives_the_run_a_train_command_gives(ray_cluster, tmp_path):
    # the reference trains in this process (a second `rewardlab train` process would only re-import
    # torch): the Ray task's run must equal it, metrics and evaluation
    config = tmp_path / "sarsa.toml"
    config.write_text(CONFIG)
    [remote] = sweep.run_sweep(sweep.plan(config, seeds=[1], out=tmp_path / "b"), backend="ray")
    reference = Run.start("sarsa", new_config("sarsa", files=[config], cli={"seed": 1}), tmp_path / "a")
    reference.train(progress=False)
    assert remote["returncode"] == 0
    assert comparable_result(remote["eval"]) == comparable_result(json.loads((tmp_path / "a" / "eval.json").read_text()))
    a = logged_metrics(tmp_path / "a")
    assert len(a) > 1 and logged_metrics(tmp_path / "b" / "base" / "seed1") == a

