"""GAIL through PPO's reward-stream seam: the discriminator loss, the horizon guard, demonstrations, resume."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from _resume import assert_same_state, final_state, killed_after_checkpoint, logged_metrics

from rewardlab.core.run import Run, new_config, read_metrics
from rewardlab.errors import ConfigError
from rewardlab.rewards import get
from rewardlab.rewards.learned import Transitions
from rewardlab.rewards.learned.adversarial import (
    collect_demonstrations,
    discriminator_loss,
    save_demonstrations,
)
from rewardlab.rl.ppo import PPO, PPOConfig


def test_discriminator_loss_by_hand():
    # logits 0 on both sides: BCE = log 2; expert logit 2, policy logit -2: log(1 + e^-2) = 0.126928
    assert discriminator_loss(torch.zeros(1), torch.zeros(1)).item() == pytest.approx(0.693147, abs=1e-6)
    assert discriminator_loss(torch.tensor([2.0]), torch.tensor([-2.0])).item() == pytest.approx(
        0.126928, abs=1e-6
    )


@pytest.fixture(scope="module")
def push_right_demos(tmp_path_factory):
    """An 'expert' that always pushes right, on the fixed-horizon CartPole."""
    demos = collect_demonstrations(
        lambda obs: np.ones(len(obs), dtype=np.int64), "cartpole-fixed-horizon", 2, seed=0
    )
    path = tmp_path_factory.mktemp("demos") / "right.npz"
    save_demonstrations(path, demos["obs"], demos["actions"])
    assert len(demos["obs"]) == 1000 and (demos["actions"] == 1).all()  # 2 episodes x 500 steps, never cut
    return path


def test_discriminator_learns_to_pay_the_experts_action(push_right_demos):
    env = gym.make("cartpole-fixed-horizon")
    gail = get("gail", observation_space=env.observation_space, action_space=env.action_space,
               demonstrations=str(push_right_demos), batch_size=256, updates_per_iteration=2,
               learning_rate=3e-3)  # fmt: skip
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 0.5, size=(512, 4)).astype(np.float32)
    random_policy = Transitions(obs, rng.integers(2, size=512), obs, np.zeros(512, dtype=bool))
    for _ in range(30):
        metrics = gail.update(random_policy)
    assert metrics["acc_expert"] > 0.8 and metrics["acc_policy"] > 0.4
    right = Transitions(obs, np.ones(512, dtype=np.int64), obs, np.zeros(512, dtype=bool))
    left = Transitions(obs, np.zeros(512, dtype=np.int64), obs, np.zeros(512, dtype=bool))
    assert gail.score(right).mean() > 2 * gail.score(left).mean()
    assert (gail.score(left) > 0).all()  # softplus: always positive


def test_gail_refuses_a_variable_horizon_env_with_a_reason(push_right_demos):
    config = PPOConfig(env="CartPole-v1", num_envs=2, n_steps=64, batch_size=64, ext_coef=0.0,
                       transition_rewards=[{"reward": "gail", "demonstrations": str(push_right_demos)}])  # fmt: skip
    algo = PPO(config)
    with pytest.raises(
        ConfigError, match="ended by termination.*cartpole-fixed-horizon.*allow_variable_horizon"
    ):
        for _ in range(5):
            algo.step()


def test_gail_needs_an_existing_demonstrations_file(tmp_path):
    env = gym.make("cartpole-fixed-horizon")
    with pytest.raises(ConfigError, match="demonstrations file .*nope.npz' does not exist"):
        get("gail", observation_space=env.observation_space, action_space=env.action_space,
            demonstrations=str(tmp_path / "nope.npz"))  # fmt: skip


def test_gail_ppo_resume_is_bit_identical(tmp_path, push_right_demos):
    sets = ["num_envs=2", "n_steps=64", "batch_size=64", "n_epochs=2", "checkpoint_every=256", "eval_episodes=1",
            "ext_coef=0.0", f"transition_rewards=[{{reward = 'gail', demonstrations = '{push_right_demos}', "
            "batch_size = 64, updates_per_iteration = 2}]"]  # fmt: skip
    config = new_config(
        "ppo", sets=sets, cli={"env": "cartpole-fixed-horizon", "total_steps": 1024, "seed": 3}
    )
    full = tmp_path / "full"
    Run.start("ppo", config, full).train(progress=False)
    reference = read_metrics(full)
    assert "reward/gail/acc_expert" in reference[-1]
    cut = killed_after_checkpoint(full, 2, copy_to=tmp_path / "cut")
    Run.resume(cut).train(progress=False)
    assert logged_metrics(cut) == logged_metrics(full)
    assert_same_state(final_state(cut), final_state(full))
