"""PPO's rollout-collection seam (rewardlab.rl.rollout): the driver's collector is a plain sampling
loop over the vector env, and rollout workers sample exactly what a worker of E envs seeded
f(seed, worker, env) with its own generator f(seed, worker) samples, joined in worker order."""

import copy
import sys

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.rl.common import evaluate_policy, make_vec_env
from rewardlab.rl.ppo import PPO, PPOConfig
from rewardlab.rl.rollout import Rollout, RolloutWorkers, worker_envs, worker_seed

SMALL = dict(n_steps=24, batch_size=32, n_epochs=2, seed=4)


def _reference_rollout(policy, envs, seeds, n_steps, generator=None):
    """A hand-written rollout: reset with ``seeds``, then sample and step ``n_steps`` times."""
    obs, _ = envs.reset(seed=seeds)
    rows = {
        "obs": [],
        "actions": [],
        "logp": [],
        "rewards": [],
        "terminated": [],
        "truncated": [],
        "finals": [],
    }
    with torch.no_grad():
        for t in range(n_steps):
            x = torch.as_tensor(obs.reshape(len(obs), -1), dtype=torch.float32)
            dist = policy.distribution(x)
            a = dist.sample(generator)
            rows["obs"].append(x)
            rows["actions"].append(a)
            rows["logp"].append(dist.log_prob(a))
            obs, r, term, trunc, info = envs.step(policy.env_action(a))
            for k, v in (("rewards", r), ("terminated", term), ("truncated", trunc)):
                rows[k].append(np.array(v))
            for i in np.flatnonzero(trunc & ~term):
                rows["finals"].append((t, int(i), info["final_obs"][i]))
    return rows, obs


def _assert_matches(rollout: Rollout, rows, last_obs):
    for key in ("obs", "actions", "logp"):
        assert torch.equal(getattr(rollout, key), torch.stack(rows[key])), key
    for key in ("rewards", "terminated", "truncated"):
        assert np.array_equal(getattr(rollout, key), np.stack(rows[key])), key
    finals = [(t, i, obs) for t, idx, stacked, _ in rollout.finals for i, obs in zip(idx, stacked.numpy())]
    assert [(t, i) for t, i, _ in finals] == [(t, i) for t, i, _ in rows["finals"]]
    for (_, _, got), (_, _, want) in zip(finals, rows["finals"]):
        assert np.array_equal(got, want.astype(np.float32))
    assert torch.equal(rollout.last_obs, torch.as_tensor(last_obs, dtype=torch.float32))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_the_driver_collector_is_a_plain_sampling_loop_on_torchs_global_generator(env_id):
    torch.set_num_threads(1)
    kw = (
        dict(num_envs=3, env_kwargs={"max_episode_steps": 20})
        if env_id == "Pendulum-v1"
        else dict(num_envs=3)
    )
    algo = PPO(PPOConfig(env=env_id, **kw, **SMALL))  # Pendulum: cut at 20 steps, so finals are bootstrapped
    envs = make_vec_env(env_id, 3, "sync", kw.get("env_kwargs"))
    try:
        torch.manual_seed(11)
        rollout = algo.collector.collect(algo.policy, 24)
        torch.manual_seed(11)
        rows, last = _reference_rollout(algo.policy, envs, 4, 24)  # seed 4: PPO resets with config.seed
        _assert_matches(rollout, rows, last)
        assert rollout.truncated.any() == (env_id == "Pendulum-v1")
    finally:
        envs.close()
        algo.close()


def test_local_rollout_workers_seed_envs_and_generators_per_worker_and_join_in_worker_order():
    torch.set_num_threads(1)
    algo = PPO(PPOConfig(env="Pendulum-v1", num_envs=4, backend="local", num_workers=2,
                         env_kwargs={"max_episode_steps": 15}, **SMALL))  # fmt: skip
    try:
        assert isinstance(algo.collector, RolloutWorkers) and algo.envs is None
        joined = algo.collector.collect(algo.policy, 20)
        for w in range(2):  # worker w: envs 2w, 2w + 1 seeded seed + env index, its own generator
            envs = worker_envs("Pendulum-v1", {"max_episode_steps": 15}, 2)
            gen = torch.Generator().manual_seed(worker_seed(4, w))
            rows, last = _reference_rollout(algo.policy, envs, [4 + 2 * w, 5 + 2 * w], 20, gen)
            envs.close()
            part = Rollout(
                joined.obs[:, 2 * w : 2 * w + 2], joined.actions[:, 2 * w : 2 * w + 2],
                joined.logp[:, 2 * w : 2 * w + 2], joined.rewards[:, 2 * w : 2 * w + 2],
                joined.terminated[:, 2 * w : 2 * w + 2], joined.truncated[:, 2 * w : 2 * w + 2],
                joined.last_obs[2 * w : 2 * w + 2],
                [(t, [i - 2 * w for i in idx if 2 * w <= i < 2 * w + 2],
                  stacked[[k for k, i in enumerate(idx) if 2 * w <= i < 2 * w + 2]], None)
                 for t, idx, stacked, _ in joined.finals],
            )  # fmt: skip
            part.finals = [f for f in part.finals if f[1]]
            _assert_matches(part, rows, last)
        assert joined.truncated[14].all()  # every env was cut at step 15: finals from both workers
        assert [idx for t, idx, _, _ in joined.finals if t == 14] == [[0, 1, 2, 3]]
    finally:
        algo.close()


def test_workers_act_with_the_weights_broadcast_at_the_start_of_each_iteration():
    torch.set_num_threads(1)
    algo = PPO(PPOConfig(env="CartPole-v1", num_envs=4, backend="local", num_workers=2, **SMALL))
    try:
        algo.step()  # the update changed the learner's actor after the rollout
        workers = algo.collector.workers
        learner = algo.actor.state_dict()
        assert not all(torch.equal(learner[k], v) for k, v in workers[0].policy.actor.state_dict().items())
        algo.collector.collect(algo.policy, 1)
        for w in workers:
            assert w.policy.actor is not algo.actor  # a copy, which the learner's updates do not reach
            assert all(torch.equal(learner[k], v) for k, v in w.policy.actor.state_dict().items())
    finally:
        algo.close()


def test_local_worker_runs_resume_bit_for_bit_from_their_state():
    torch.set_num_threads(1)
    config = dict(env="Pendulum-v1", num_envs=4, backend="local", num_workers=2, **SMALL)
    a = PPO(PPOConfig(**config))
    a.step()
    state, torch_rng, step = copy.deepcopy(a.state_dict()), torch.get_rng_state(), a.global_step
    want = [a.step() for _ in range(2)]
    b = PPO(PPOConfig(**config))
    b.load_state_dict(state)
    b.global_step = step  # the Run keeps the step counter in the checkpoint's meta
    torch.set_rng_state(torch_rng)  # the update's minibatch order (the Run saves it with the checkpoint)
    assert [b.step() for _ in range(2)] == want
    a.close()
    b.close()


@pytest.mark.parametrize(
    "sets,match",
    [
        (dict(backend="threads"), r"'backend': 'threads' is not one of 'driver', 'local', 'ray'"),
        (dict(backend="local", num_workers=3), r"'num_workers': 3 does not divide num_envs \(4\).*\[1, 2, 4\]"),
        (dict(backend="local", num_workers=2, envs_per_worker=3),
         r"'num_envs': 4 is not num_workers x envs_per_worker \(2 x 3 = 6\); set num_envs = 6"),
        (dict(backend="local", norm_obs=True), r"'norm_obs' is not supported with backend = 'local'"),
        (dict(backend="ray", vectorization="ray"), r"'vectorization': 'ray' with backend = 'ray'"),
    ],
)  # fmt: skip
def test_bad_worker_layouts_are_refused_naming_the_keys(sets, match):
    with pytest.raises(ConfigError, match=match):
        PPO(PPOConfig(env="CartPole-v1", num_envs=4, **sets))


def test_the_ray_backend_without_the_ray_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(
        ConfigError, match=r"2 Ray rollout workers needs Ray, which is not installed\. .*rewardlab\[ray\]"
    ):
        PPO(PPOConfig(env="CartPole-v1", num_envs=4, backend="ray", num_workers=2))


def test_evaluation_on_local_workers_plays_the_drivers_episodes_split_in_blocks():
    torch.set_num_threads(1)
    algo = PPO(PPOConfig(env="CartPole-v1", num_envs=4, backend="local", num_workers=2, **SMALL))
    try:
        algo.step()
        on_workers = algo.evaluate(5)  # 3 episodes on worker 0, 2 on worker 1
        on_driver = evaluate_policy("CartPole-v1", algo.predict, 5, seed=4 + 10_000)
        assert on_workers["returns"] == on_driver["returns"] and on_workers["episodes"] == 5
        assert on_workers["mean_return"] == pytest.approx(on_driver["mean_return"])
        assert on_workers["mean_length"] == pytest.approx(on_driver["mean_length"])
    finally:
        algo.close()
