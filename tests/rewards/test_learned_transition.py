"""The transition-reward contract: normalisers with state, RND's loss and reward, bad input."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError, NonFiniteError, RewardlabError
from rewardlab.rewards import get
from rewardlab.rewards.learned import ReturnNorm, RunningNorm, TransitionReward, Transitions
from rewardlab.rewards.learned.rnd import RNDNovelty, rnd_loss

BOX = gym.spaces.Box(0.0, 1.0, shape=(6,), dtype=np.float32)
ACTIONS = gym.spaces.Discrete(2)


class Given(TransitionReward):
    """A test double: scores the batch's ``action`` column as the reward."""

    name = "given"

    def score(self, batch):
        return batch.action.astype(np.float64)


def _batch(rewards_tn, dones_tn=None):
    rewards_tn = np.asarray(rewards_tn, dtype=np.float64)
    T, N = rewards_tn.shape
    done = np.zeros((T, N), dtype=bool) if dones_tn is None else np.asarray(dones_tn, dtype=bool)
    obs = np.zeros((T * N, 6))
    return Transitions(obs, rewards_tn.reshape(-1), obs, done.reshape(-1), num_envs=N)


def test_return_norm_filters_each_env_over_time_not_across_envs():
    # 3 steps x 2 envs, gamma 0.5. Per env over time (OpenAI's RND, the fix of CleanRL #360):
    # env 0 rewards 1, 2, 3 -> R = 1, 2.5, 4.25; env 1 rewards 10, 0, 0 -> R = 10, 5, 2.5.
    # Filtering across envs at each step (the bug) would mix env 0 into env 1's return instead.
    norm = ReturnNorm(Given(BOX, ACTIONS, num_envs=2), gamma=0.5)
    batch = _batch([[1, 10], [2, 0], [3, 0]])
    returns = norm.filtered_returns(batch.action, batch.done)
    assert returns.tolist() == [[1.0, 10.0], [2.5, 5.0], [4.25, 2.5]]
    assert norm.returns.tolist() == [4.25, 2.5]  # carried into the next rollout


def test_return_norm_divides_by_the_std_of_the_returns_and_restarts_episodic_returns():
    # Episodic reward, gamma 1, env 0 ends at step 0: its return restarts, 1 | 2, 3 -> R = 1 | 2, 5;
    # env 1 never ends: 1, 1, 1 -> R = 1, 2, 3
    reward = Given(BOX, ACTIONS, num_envs=2)
    reward.gamma, reward.episodic = 1.0, True
    norm = ReturnNorm(reward)
    values = norm.score_checked(_batch([[1, 1], [2, 1], [3, 1]], [[1, 0], [0, 0], [0, 0]]))
    filtered = np.array([1, 1, 2, 2, 5, 3], dtype=np.float64)  # (env0, env1) per step: 1,1 | 2,2 | 5,3
    # Gymnasium's running variance starts at var 1 with count 1e-4; after 6 values it is ~ np.var
    assert norm.stats.var == pytest.approx(np.var(filtered), rel=1e-3)
    assert values == pytest.approx(np.array([1, 1, 2, 1, 3, 1]) / np.sqrt(np.var(filtered)), rel=1e-3)


def test_running_norm_frozen_after_fit_stops_moving_and_refuses_to_score_before_fit():
    norm = RunningNorm(Given(BOX, ACTIONS), freeze_after_fit=True)
    with pytest.raises(RewardlabError, match="has no statistics; call fit"):
        norm(np.zeros((2, 6)), np.array([1.0, 2.0]), np.zeros((2, 6)), np.zeros(2))
    norm.fit(_batch([[1.0], [3.0]]))  # mean 2, var 1 (up to the 1e-4 prior count)
    first = norm.score_checked(_batch([[5.0], [7.0]]))
    assert first == pytest.approx([3.0, 5.0], rel=1e-3)
    assert norm.score_checked(_batch([[5.0], [7.0]])).tolist() == first.tolist()  # statistics frozen
    unfrozen = RunningNorm(Given(BOX, ACTIONS))
    a = unfrozen.score_checked(_batch([[5.0], [7.0]]))
    b = unfrozen.score_checked(_batch([[5.0], [7.0]]))
    assert a.tolist() != b.tolist()  # the control: running statistics move with each scored batch


def test_rnd_loss_is_the_masked_mean_of_per_sample_mse():
    # per-sample mean over features: (1 + 4) / 2 = 2.5 and (9 + 16) / 2 = 12.5; only sample 0 is masked in
    pred = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    target = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert rnd_loss(pred, target, torch.tensor([1.0, 0.0])).item() == 2.5
    assert rnd_loss(pred, target, torch.tensor([1.0, 1.0])).item() == 7.5
    assert rnd_loss(pred, target, torch.tensor([0.0, 0.0])).item() == 0.0  # no division by zero


def _one_hot_batch(cells, n=6):
    obs = np.eye(n, dtype=np.float32)[cells]
    return Transitions(obs, np.zeros(len(cells), dtype=np.int64), obs, np.zeros(len(cells), dtype=bool))


def test_rnd_reward_decays_on_a_visited_state_and_stays_high_on_a_new_one():
    novelty = RNDNovelty(BOX, ACTIONS, seed=0, learning_rate=1e-3)
    novelty.fit(_one_hot_batch(np.arange(6)))  # warm-up statistics over every cell
    seen, new = _one_hot_batch([0] * 64), _one_hot_batch([5])
    before_seen, before_new = novelty.score(seen)[0], novelty.score(new)[0]
    for _ in range(30):
        novelty.update(seen)
    after_seen, after_new = novelty.score(seen)[0], novelty.score(new)[0]
    assert after_seen < 0.1 * before_seen
    assert after_new > 0.5 * before_new
    assert novelty.updates == 30


def test_scoring_changes_no_learned_state_only_declared_statistics():
    reward = get("rnd", observation_space=BOX, action_space=ACTIONS, num_envs=2, seed=1)
    batch = _one_hot_batch([0, 1, 2, 3])
    batch.num_envs = 2
    before = reward.state_dict()
    reward.score_checked(batch)
    after = reward.state_dict()
    inner_before, inner_after = before.pop("reward"), after.pop("reward")
    for key in inner_before:  # networks, optimizer, observation statistics, generators: untouched
        assert repr(inner_before[key]) == repr(inner_after[key]), key
    assert after["stats"]["count"] > before["stats"]["count"]  # the declared running statistics moved
    # and a copy restored from the state scores the next batch identically
    clone = get("rnd", observation_space=BOX, action_space=ACTIONS, num_envs=2, seed=99)
    clone.load_state_dict(reward.state_dict())
    assert clone.score_checked(batch).tolist() == reward.score_checked(batch).tolist()


def test_rnd_refuses_an_observation_space_it_cannot_take():
    with pytest.raises(ConfigError, match=r"reward 'rnd' cannot take the observation space Discrete\(5\)"):
        get("rnd", observation_space=gym.spaces.Discrete(5), action_space=ACTIONS)


def test_rnd_networks_leave_the_global_torch_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    get("rnd", observation_space=BOX, action_space=ACTIONS)
    assert torch.equal(torch.rand(3), expected)


def test_a_non_finite_reward_stops_with_an_error_naming_the_reward():
    class Broken(TransitionReward):
        name = "broken"

        def score(self, batch):
            return np.full(len(batch), np.nan)

    with pytest.raises(NonFiniteError, match=r"reward 'broken' returned nan for transition 0"):
        Broken(BOX, ACTIONS)(np.zeros((2, 6)), np.zeros(2), np.zeros((2, 6)), np.zeros(2))


def test_update_order_is_a_config_value_and_a_wrong_one_is_named():
    assert get("rnd", observation_space=BOX, action_space=ACTIONS).update_order == "after_score"  # CleanRL
    assert (
        get("rnd", observation_space=BOX, action_space=ACTIONS, update_order="before_score").update_order
        == "before_score"
    )
    with pytest.raises(ConfigError, match=r"update_order 'first' is not one of after_score, before_score"):
        get("rnd", observation_space=BOX, action_space=ACTIONS, update_order="first")


def test_text_reward_normaliser_freezes_after_fit_and_keeps_the_raw_total_as_a_component():
    from rewardlab.rewards import Sample, reward
    from rewardlab.rewards.learned import NormalizedText

    @reward(name="length", maximum=100)
    def length(sample):
        return len(sample.completion)

    norm = NormalizedText(length, name="length_z")
    with pytest.raises(RewardlabError, match="call fit\\(\\) on reference samples"):
        norm([Sample(completion="ab")])
    norm.fit([Sample(completion="a"), Sample(completion="abc")])  # mean 2, var 1 (up to the prior count)
    result = norm.score([Sample(completion="abcd"), Sample(completion="ab")])
    assert result.total == pytest.approx([2.0, 0.0], abs=1e-3)
    assert result.components["length"].tolist() == [4.0, 2.0]
    again = norm.score([Sample(completion="abcd"), Sample(completion="ab")])
    assert again.total.tolist() == result.total.tolist()  # frozen: scoring moved nothing
