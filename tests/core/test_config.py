"""Config resolution: defaults <- TOML <- CLI flags <- --set, and errors that name the bad input."""

import pytest

from rewardlab.config import build_config, parse_set_args, to_toml
from rewardlab.errors import ConfigError
from rewardlab.rl.dqn import DQNConfig
from rewardlab.rl.ppo import PPOConfig


def test_precedence_and_types(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('env = "Acrobot-v1"\nlearning_rate = 0.001\nhidden_sizes = [32, 32]\n')
    c = build_config(PPOConfig, files=[f], sets=["learning_rate=3e-4", "target_kl=0.02", "norm_obs=true"],
                     cli={"seed": 7})  # fmt: skip
    assert (c.env, c.seed, c.learning_rate, c.target_kl, c.norm_obs) == ("Acrobot-v1", 7, 3e-4, 0.02, True)
    assert c.hidden_sizes == (32, 32)
    assert build_config(PPOConfig, sets=["target_kl=none"]).target_kl is None


def test_unknown_key_names_it_and_lists_valid_keys(tmp_path):
    with pytest.raises(ConfigError) as err:
        build_config(PPOConfig, sets=["learning_rat=0.1"])
    msg = str(err.value)
    assert "'learning_rat'" in msg and "Did you mean: learning_rate?" in msg and "gae_lambda" in msg
    f = tmp_path / "bad.toml"
    f.write_text("nsteps = 3\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'nsteps' in config file .*bad\.toml"):
        build_config(PPOConfig, files=[f])


@pytest.mark.parametrize(
    "item,expected",
    [
        ("learning_rate=abc", "config key 'learning_rate': value 'abc' is not a valid float"),
        ("n_steps=1.5", "config key 'n_steps': value 1.5 is not a valid int"),
        ("norm_obs=maybe", "config key 'norm_obs': value 'maybe' is not a valid bool"),
        ("hidden_sizes=[64, 'x']", "config key 'hidden_sizes'"),
    ],
)
def test_wrong_type_names_key_value_and_type(item, expected):
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace(".", r"\.")):
        build_config(PPOConfig, sets=[item])


def test_validation_and_set_syntax():
    with pytest.raises(ConfigError, match="batch_size.*larger than one rollout"):
        build_config(PPOConfig, sets=["batch_size=100000"])
    with pytest.raises(ConfigError, match="expects key=value"):
        parse_set_args(["learning_rate"])
    with pytest.raises(ConfigError, match="'tau'"):
        build_config(DQNConfig, sets=["tau=0"])


def test_resolved_toml_round_trips(tmp_path):
    c = build_config(PPOConfig, sets=["target_kl=0.01"])
    f = tmp_path / "config.toml"
    f.write_text(to_toml(c, "ppo"))
    assert build_config(PPOConfig, files=[f]) == c
