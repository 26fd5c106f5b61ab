"""Every registered bandit algorithm through the Algorithm contract: steps, evaluation, exact resume."""

import copy
import json

import numpy as np
import pytest
import torch

from rewardlab.bandits import ALGORITHMS, ENVS
from rewardlab.config import build_config
from rewardlab.errors import ConfigError
from rewardlab.registry import get_algorithm

FAST = {"sequoia": ["action_solver=enumerate", "warm_start_updates=20", "batch_size=8"]}


def _make(name, *sets):
    cls = get_algorithm(name)
    config = build_config(cls.config_class, sets=["total_steps=600", "rounds_per_step=200", "eval_rounds=20",
                                                  *FAST.get(name, []), *sets])
    return cls(config)


def _roundtrip(state):
    """What the Run's torch.save / torch.load do to a state dict."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_resume_is_bit_identical(name):
    straight = _make(name)
    reference = [straight.step() for _ in range(3)]
    first = _make(name)
    head = [first.step()]
    first.evaluate(2)  # evaluating must not shift the training streams
    state = _roundtrip(copy.deepcopy(first.state_dict()))
    resumed = _make(name)
    resumed.load_state_dict(state)
    tail = [resumed.step() for _ in range(2)]
    assert head + tail == reference
    assert resumed.global_step == 600
    ev = resumed.evaluate(2)
    assert ev["episodes"] == 2 and np.isfinite(ev["mean_return"]) and "std_return" in ev


def test_curve_metric_is_logged():
    for name in ALGORITHMS:
        cls = get_algorithm(name)
        assert cls.curve_metric in ("cumulative_regret", "reward_mean")
    algo = _make("ucb1")
    metrics = algo.step()
    assert metrics["cumulative_regret"] >= 0 and metrics["rounds"] == 200


def test_registered_envs_import():
    from rewardlab.registry import load

    for path in ENVS.values():
        assert callable(load(path))


def test_incompatible_env_is_an_error_listing_valid_ones():
    with pytest.raises(ConfigError, match="cannot play env 'restless-bandit'; valid envs: linear-bandit"):
        _make("linucb", "env=restless-bandit")
    with pytest.raises(ConfigError, match="valid envs: bernoulli-bandit$"):
        _make("kl-ucb", "env=gaussian-bandit")


def test_means_and_arms_must_agree():
    with pytest.raises(ConfigError, match="means has 3 entries but arms=10"):
        build_config(get_algorithm("ucb1").config_class, sets=["means=[0.1, 0.2, 0.3]"])


def test_sequoia_infeasible_min_active_is_an_error():
    with pytest.raises(Exception, match=r"no action satisfies the constraints \{sum\(a\) <= 3; 5 <= "):
        _make("sequoia", "min_active=5")


def test_ucb1_learns_through_the_algorithm():
    algo = _make("ucb1", "means=[0.1, 0.2, 0.9]", "arms=3", "total_steps=3000", "rounds_per_step=1000")
    while algo.global_step < 3000:
        m = algo.step()
    assert m["regret_per_round"] < 0.1
    assert algo.evaluate(3)["regret_per_round"] == 0.0


def test_cli_train_ucb1_writes_a_run_directory(tmp_path):
    from rewardlab.cli import main

    out = tmp_path / "run"
    rc = main(["train", "ucb1", "--env", "bernoulli-bandit", "--set", "arms=10", "--total-steps", "2000",
               "--out", str(out)])
    assert rc == 0
    assert (out / "config.toml").is_file() and (out / "eval.json").is_file()
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1000, 2000]
    assert lines[-1]["cumulative_regret"] > lines[0]["cumulative_regret"] > 0
    assert "arms = 10" in (out / "config.toml").read_text()
    assert json.loads((out / "eval.json").read_text())["episodes"] == 10


def test_cli_unknown_config_key_fails(tmp_path, capsys):
    from rewardlab.cli import main

    rc = main(["train", "ucb1", "--set", "armz=3", "--total-steps", "10", "--out", str(tmp_path / "r")])
    assert rc != 0
    assert "armz" in capsys.readouterr().err


def test_cli_plot_draws_regret_of_several_seeds(tmp_path):
    from rewardlab.cli import main

    runs = []
    for seed in range(3):
        out = tmp_path / f"ucb1-{seed}"
        assert main(["train", "ucb1", "--seed", str(seed), "--total-steps", "3000", "--out", str(out)]) == 0
        runs.append(str(out))
    assert main(["plot", *runs, "--out", str(tmp_path / "regret.png")]) == 0
    assert (tmp_path / "regret.png").stat().st_size > 10_000
