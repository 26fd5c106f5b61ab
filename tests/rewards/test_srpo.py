"""SRPO's self-referential reward (seeds_table row 20) and the group-level Reward contract."""

import math

import numpy as np
import pytest

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import Sample, WeightedSum, get, reward
from rewardlab.rewards.base import GroupReward, group_indices
from rewardlab.rewards.srpo import SelfReferentialReward, dbscan, srpo_rewards, success_centres


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_the_seeds_table_cases():
    # one success at the origin; failures at distance 0.1 (nearest), 1 and 2 (farthest)
    r = srpo_rewards([True, False, False, False], [[0, 0], [0, 0.1], [0, 1], [0, 2]])
    assert r[0] == 1.0
    assert r[1] == pytest.approx(0.6 * sig(5)) and round(r[1], 3) == 0.596
    assert r[3] == pytest.approx(0.6 * sig(-5)) and round(r[3], 3) == 0.004
    assert r[2] == pytest.approx(0.6 * sig(10 * (0.5 - 0.9 / 1.9)))  # d~ = (1 - 0.1) / (2 - 0.1)
    assert srpo_rewards([True, False], [[0, 0], [3, 4]])[1] == pytest.approx(0.3)  # lone failure: d~ = 0.5
    assert srpo_rewards([True, False, False], [[0, 0], [3, 4], [4, 3]])[1:] == pytest.approx([0.3, 0.3])
    assert srpo_rewards([False] * 3, np.eye(3)).tolist() == [0.0, 0.0, 0.0]  # all-fail group: binary
    assert srpo_rewards([True] * 3, np.eye(3)).tolist() == [1.0, 1.0, 1.0]


def test_failures_are_ranked_by_distance_to_the_success_clusters_not_to_their_mean():
    # two clusters of successes; their mean (5.05, 0) is far from every success
    succ = [[0, 0], [0.1, 0], [10, 0], [10.1, 0]]
    assert success_centres(np.array(succ)) == pytest.approx(np.array([[0.05, 0], [10.05, 0]]))
    r = srpo_rewards([True] * 4 + [False, False], [*succ, [10, 1], [5, 0]])
    assert r[4] == pytest.approx(0.6 * sig(5))  # near a cluster: the best failure
    assert r[5] == pytest.approx(0.6 * sig(-5))  # at the successes' mean, far from both clusters
    # control: with the mean as the only centre the order would flip
    mean = np.mean(succ, axis=0)
    assert np.linalg.norm([5, 0] - mean) < np.linalg.norm([10, 1] - mean)


def test_all_noise_falls_back_to_the_successes_mean():
    # two successes standardise to (-1, 0) and (1, 0): 2 apart > eps 0.5, both noise
    assert dbscan(np.array([[-1.0, 0.0], [1.0, 0.0]])).tolist() == [-1, -1]
    assert success_centres(np.array([[0.0, 0.0], [4.0, 0.0]])) == pytest.approx(np.array([[2.0, 0.0]]))
    r = srpo_rewards([True, True, False, False], [[0, 0], [4, 0], [2, 0], [2, 3]])
    assert r[2:] == pytest.approx([0.6 * sig(5), 0.6 * sig(-5)])


def test_dbscan_matches_scikit_learn():
    cluster = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(0)
    for trial in range(20):
        x = np.concatenate([rng.normal(c, 0.3, size=(6, 3)) for c in rng.normal(0, 2, size=(3, 3))])
        x = x[rng.permutation(len(x))]
        ours = dbscan(x, eps=0.5, min_samples=2)
        theirs = cluster.DBSCAN(eps=0.5, min_samples=2).fit(x).labels_
        assert ours.tolist() == theirs.tolist(), trial


def test_bad_embeddings_are_named():
    with pytest.raises(ConfigError, match=r"one embedding vector per sample.*shape \(3, 2\) for 2 samples"):
        srpo_rewards([True, False], np.zeros((3, 2)))
    with pytest.raises(ConfigError, match="2-D array of points"):
        dbscan(np.zeros(3))


def _samples(groups):
    """groups: list of lists of (success, embedding)."""
    return [
        Sample(group=g, info={"success": ok, "embedding": np.asarray(e, dtype=float)})
        for g, members in enumerate(groups)
        for ok, e in members
    ]


def test_the_reward_scores_each_group_on_its_own():
    r = get("srpo")
    samples = _samples(
        [[(True, [0, 0]), (False, [0, 0.1]), (False, [0, 2])], [(False, [0, 0]), (False, [9, 9])]]
    )
    result = r.score(samples)
    assert result.total == pytest.approx([1.0, 0.6 * sig(5), 0.6 * sig(-5), 0.0, 0.0])
    assert result.components["srpo/success"].tolist() == [1, 0, 0, 0, 0]
    # the same samples interleaved give the same values: groups come from Sample.group, not position
    order = [3, 0, 4, 1, 2]
    assert r([samples[i] for i in order]) == pytest.approx(result.total[order])


def test_samples_without_a_group_are_grouped_by_prompt():
    samples = [Sample(prompt=p, info={"success": ok, "embedding": [x]}) for p, ok, x in
               [("a", True, 0.0), ("b", True, 5.0), ("a", False, 1.0), ("b", False, 5.5), ("a", False, 3.0)]]  # fmt: skip
    assert group_indices(samples) == [[0, 2, 4], [1, 3]]
    assert SelfReferentialReward()(samples) == pytest.approx([1, 1, 0.6 * sig(5), 0.3, 0.6 * sig(-5)])


def test_a_combinator_passes_whole_groups_and_per_sample_rewards_are_unchanged():
    bonus = reward(lambda s: 1.0, name="bonus")
    total = WeightedSum([SelfReferentialReward(), bonus], weights=[1.0, 0.5])
    samples = _samples([[(True, [0]), (False, [1])]])
    assert total(samples) == pytest.approx([1.5, 0.3 + 0.5])
    assert bonus(samples).tolist() == [1.0, 1.0]  # group ignored by a per-sample reward


def test_group_reward_failures_name_the_group():
    samples = [Sample(group=0, info={"embedding": [0.0]}), Sample(group=0, info={"embedding": [1.0]})]
    with pytest.raises(
        RewardlabError, match=r"reward 'srpo' raised KeyError.*'success'.*group of samples \[0, 1\]"
    ):
        SelfReferentialReward()(samples)
    zeroed = SelfReferentialReward(on_error="zero").score(samples)
    assert zeroed.total.tolist() == [0.0, 0.0] and zeroed.counts["srpo/errors"] == 2

    class Short(GroupReward):
        name = "short"

        def compute_group(self, members):
            return [1.0]

    with pytest.raises(
        RewardlabError, match=r"'short': compute_group returned 1 values for a group of 2 samples"
    ):
        Short()(samples)


def test_a_reward_pool_refuses_a_group_reward():
    from rewardlab.rewards.pool import RewardPool

    with pytest.raises(
        ConfigError,
        match=r"'srpo' \(inside 'weighted_sum'\) scores samples against their group.*reward_workers = 0",
    ):
        RewardPool(WeightedSum([SelfReferentialReward()]), workers=2)
