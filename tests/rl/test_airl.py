"""AIRL through PPO's reward-stream seam: the shaped logit by hand, the recovered reward re-trains PPO
from scratch (expert demonstrations) where random demonstrations' does not, resume, bad input."""

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rewardlab.core.run import Run, new_config, read_metrics
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards import get
from rewardlab.rewards.learned.adversarial import collect_demonstrations, save_demonstrations
from rewardlab.rewards.learned.airl import airl_logit
from rewardlab.rewards.learned.base import Transitions
from rewardlab.rl.ppo import PPO, PPOConfig


class Chain(gym.Env):
    """Cells 0..7, start at 0, actions 0 = left and 1 = right; never terminates, 16 steps (a fixed
    horizon, as adversarial rewards need); the true reward is 1 per step on the right end."""

    def __init__(self, length: int = 8, horizon: int = 16):
        self.length, self.horizon = length, horizon
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(length,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self):
        obs = np.zeros(self.length, dtype=np.float32)
        obs[self.pos] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = 0, 0
        return self._obs(), {}

    def step(self, action):
        self.pos = int(np.clip(self.pos + (1 if int(action) == 1 else -1), 0, self.length - 1))
        self.t += 1
        return self._obs(), float(self.pos == self.length - 1), False, self.t >= self.horizon, {}


ENV = f"{__file__}:Chain"
PPO_SETTINGS = dict(env=ENV, num_envs=4, n_steps=64, batch_size=64, n_epochs=4, learning_rate=3e-3, gamma=0.95,
                    ent_coef=0.01, eval_episodes=4, hidden_sizes=(32, 32), ext_coef=0.0)  # fmt: skip
AIRL = {"reward": "airl", "batch_size": 256, "updates_per_iteration": 4, "learning_rate": 1e-3}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


def demonstrations(tmp_path, kind):
    rng = np.random.default_rng(0)
    act = (
        (lambda o: np.ones(len(o), dtype=np.int64))
        if kind == "expert"
        else (lambda o: rng.integers(2, size=len(o)))
    )
    d = collect_demonstrations(act, Chain, 20, seed=0)
    path = tmp_path / f"{kind}.npz"
    save_demonstrations(path, d["obs"], d["actions"], next_obs=d["next_obs"], dones=d["dones"])
    return path, float(d["returns"].mean())


def train(config):
    algo = PPO(config)
    while algo.global_step < config.total_steps:
        algo.step()
    return algo


def test_airl_logit_and_shaping_by_hand():
    g, h, h_next, log_pi = torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.5]), torch.tensor([2.0, 2.0]), -0.7
    done = torch.tensor([False, True])
    # 1 + 0.9 * 2 - 0.5 + 0.7 = 3.0; at a terminal state the next potential is 0: 1 - 0.5 + 0.7 = 1.2
    assert airl_logit(g, h, h_next, done, torch.tensor(log_pi), 0.9).tolist() == pytest.approx([3.0, 1.2])


def airl_ppo(tmp_path, **extra):
    demos, _ = demonstrations(tmp_path, "expert")
    algo = PPO(PPOConfig(**PPO_SETTINGS, total_steps=4096, seed=0,
                         transition_rewards=[{**AIRL, "demonstrations": str(demos), **extra}]))  # fmt: skip
    return algo, algo.streams.rewards[0]


def test_discriminator_logits_by_hand_with_the_learners_log_pi(tmp_path):
    algo, airl = airl_ppo(tmp_path)
    assert airl.policy_log_prob == algo.log_prob  # PPO's seam bound its own policy
    with torch.no_grad():  # g = 1, h = 0.5 everywhere; the actor's logits (0, log 3): pi(1) = 0.75
        for net, value in ((airl.discriminator, 1.0), (airl.potential, 0.5)):
            net[-1].weight.zero_()
            net[-1].bias.fill_(value)
        algo.actor[-1].weight.zero_()
        algo.actor[-1].bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    obs = np.eye(8, dtype=np.float32)[[0, 3, 5]]
    batch = Transitions(obs, np.array([0, 1, 0]), obs, np.zeros(3, dtype=bool), 1, np.zeros(3, dtype=bool))
    expert, policy = airl.discriminator_logits(batch, np.array([0, 7]), np.array([0, 1, 2]))
    # logit = g + 0.99 h(s') - h(s) - log pi(a|s) = 0.995 - log pi; the expert's actions are all 1
    assert expert.tolist() == pytest.approx([0.995 - math.log(0.75)] * 2, abs=1e-5)
    assert policy.tolist() == pytest.approx([0.995 - math.log(0.25), 0.995 - math.log(0.75), 0.995 - math.log(0.25)],
                                            abs=1e-5)  # fmt: skip


def test_the_rollouts_rows_get_the_behaviour_policys_log_probs(tmp_path):
    # the discriminator trains before PPO's update on the rollout: the policy it scores is the one that acted
    algo, airl = airl_ppo(tmp_path)
    for _ in range(3):  # move the policy off uniform so the comparison has teeth
        algo.step()
    rollouts, seen = [], []
    collect, update = algo.collector.collect, airl.update
    algo.collector.collect = lambda policy, T: rollouts.append(collect(policy, T)) or rollouts[-1]
    airl.update = lambda batch: seen.append(airl.log_pi(batch.obs, batch.action)) or update(batch)
    algo.step()
    behaviour = rollouts[0].logp.reshape(-1)  # (T, N) -> the streams' time-major rows
    assert behaviour.std() > 0.05
    assert torch.allclose(seen[0], behaviour, atol=1e-6)


def test_without_a_bound_policy_airl_refuses_to_train(tmp_path):
    demos, _ = demonstrations(tmp_path, "expert")
    env = Chain()
    airl = get("airl", observation_space=env.observation_space, action_space=env.action_space,
               demonstrations=str(demos))  # fmt: skip
    obs = np.eye(8, dtype=np.float32)[[0, 1]]
    batch = Transitions(obs, np.array([1, 1]), obs, np.zeros(2, dtype=bool), 1, np.zeros(2, dtype=bool))
    with pytest.raises(RewardlabError, match=r"needs the learner's log pi\(a\|s\), and no policy was bound"):
        airl.update(batch)
    airl.policy_log_prob = lambda o, a: np.zeros(len(o) + 1)
    with pytest.raises(RewardlabError, match=r"policy_log_prob returned shape \(1025,\) for 1024 rows"):
        airl.update(batch)


def test_running_obs_norm_folds_in_each_discriminator_batch_before_the_step(tmp_path):
    demos, _ = demonstrations(tmp_path, "expert")
    env = Chain()
    airl = get("airl", observation_space=env.observation_space, action_space=env.action_space,
               demonstrations=str(demos), obs_norm="running", updates_per_iteration=2, batch_size=16)  # fmt: skip
    airl.policy_log_prob = lambda obs, actions: np.full(len(obs), math.log(0.5))
    obs = np.eye(8)[[0, 0, 1, 2, 2, 2]]
    batch = Transitions(obs, np.ones(6), obs, np.zeros(6, dtype=bool), 1, np.zeros(6, dtype=bool))
    rng = copy.deepcopy(airl.np_rng)  # the rows the two steps will draw
    rows = []
    for _ in range(2):
        ir, ip = rng.integers(len(airl.reference_obs), size=16), rng.integers(6, size=16)
        rows += [airl.reference_obs[ir], obs[ip]]
    airl.update(batch)
    seen = np.concatenate(rows)  # 64 rows; the prior (mean 0, var 1) weighs 1e-4 of a row
    assert airl.obs_stats.count == pytest.approx(64 + 1e-4)
    assert airl.obs_mean == pytest.approx(seen.mean(0), abs=1e-5)
    assert airl.obs_std == pytest.approx(seen.std(0), abs=1e-3)
    with pytest.raises(ConfigError, match=r"obs_norm 'batch' is not one of 'reference', 'running'"):
        get("airl", observation_space=env.observation_space, action_space=env.action_space,
            demonstrations=str(demos), obs_norm="batch")  # fmt: skip


def test_state_only_g_ignores_the_action_and_the_time_limit_keeps_the_next_potential(tmp_path):
    demos, _ = demonstrations(tmp_path, "expert")
    env = Chain()
    airl = get("airl", observation_space=env.observation_space, action_space=env.action_space,
               demonstrations=str(demos), state_only=True)  # fmt: skip
    obs = np.eye(8, dtype=np.float32)[[0, 3, 7]]
    g0, g1 = (airl.logits(obs, np.full(3, a)).detach().numpy() for a in (0, 1))
    assert g0.tolist() == g1.tolist()  # g(s): the action is not an input
    path = str(airl.save_recovered(tmp_path / "g.pt"))
    recovered = get("airl_recovered", observation_space=env.observation_space, action_space=env.action_space,
                    path=path)  # fmt: skip
    assert recovered(obs, np.array([0, 1, 0]), obs, np.zeros(3)) == pytest.approx(g0, abs=1e-6)
    # clip = true: g held inside its range over the demonstrations (cells 0..7 of an always-right expert)
    on_demos = airl.logits(airl.reference_obs, airl.reference_actions).detach().numpy()
    clipped = get("airl_recovered", observation_space=env.observation_space, action_space=env.action_space,
                  path=path, clip=True)  # fmt: skip
    far = np.array([[-50.0] * 8, [50.0] * 8, [0.0] * 8], dtype=np.float32)  # nothing like a demonstration
    raw = recovered(far, np.zeros(3), far, np.zeros(3))
    assert clipped(far, np.zeros(3), far, np.zeros(3)) == pytest.approx(
        np.clip(raw, on_demos.min(), on_demos.max()), abs=1e-6
    )
    assert not (on_demos.min() <= raw).all() & (raw <= on_demos.max()).all()  # the clip did something
    # a truncated last step is not an end of the MDP: f keeps gamma * h(s'); a terminated one drops it
    nxt = np.eye(8, dtype=np.float32)[[1, 4, 7]]
    h = lambda o: airl.potential(airl._obs(o)).squeeze(-1).detach().numpy()  # noqa: E731
    done = np.array([False, True, True])
    truncated = Transitions(obs, np.zeros(3), nxt, done, 1, terminated=np.zeros(3, dtype=bool))
    assert airl.score(truncated) == pytest.approx(g0 + airl.discount * h(nxt) - h(obs), abs=1e-5)
    ended = Transitions(obs, np.zeros(3), nxt, done, 1, terminated=done)
    airl.allow_variable_horizon = True
    assert airl.score(ended) == pytest.approx(g0 + airl.discount * h(nxt) * ~done - h(obs), abs=1e-5)
    # shaped = true: the frozen f is what AIRL paid (its score), with the same time-limit rule
    shaped = get("airl_recovered", observation_space=env.observation_space, action_space=env.action_space,
                 path=path, shaped=True)  # fmt: skip
    for batch in (truncated, ended):
        assert shaped.score(batch) == pytest.approx(airl.score(batch), abs=1e-5)
    assert not np.allclose(shaped.score(truncated), recovered.score(truncated), atol=1e-3)  # h counted


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["expert", "random"])
def test_ppo_retrained_on_the_recovered_reward_imitates_the_expert_and_not_random_demonstrations(
    kind, tmp_path
):
    demos, demo_return = demonstrations(tmp_path, kind)
    cfg = PPOConfig(**PPO_SETTINGS, total_steps=8192, seed=0,
                    transition_rewards=[{**AIRL, "demonstrations": str(demos)}])  # fmt: skip
    airl = train(cfg).streams.rewards[0]
    recovered = airl.save_recovered(tmp_path / "g.pt")
    # a fresh PPO, another seed, paid only by the frozen g(s, a): the environment's reward is never used
    retrain = PPOConfig(**PPO_SETTINGS, total_steps=8192, seed=100,
                        transition_rewards=[{"reward": "airl_recovered", "path": str(recovered)}])  # fmt: skip
    true_return = train(retrain).evaluate(4)["mean_return"]
    if kind == "expert":
        assert demo_return == 10.0 and true_return == 10.0  # at the end from step 7 to 16, as the expert
    else:
        assert demo_return < 1.0 and true_return < 2.0  # random demonstrations recover no goal


def test_airl_ppo_resume_is_bit_identical(tmp_path):
    demos, _ = demonstrations(tmp_path, "expert")
    sets = ["num_envs=2", "n_steps=32", "batch_size=32", "n_epochs=2", "checkpoint_every=128", "eval_episodes=1",
            "ext_coef=0.0", f"transition_rewards=[{{reward = 'airl', demonstrations = '{demos}', batch_size = 64, "
            "updates_per_iteration = 2, obs_norm = 'running'}]"]  # fmt: skip
    config = new_config("ppo", sets=sets, cli={"env": ENV, "total_steps": 512, "seed": 3})
    # imported here: this file is also loaded by path as the Chain env's module, outside pytest's sys.path
    from _resume import assert_same_state, final_state, killed_after_checkpoint, logged_metrics

    full = tmp_path / "full"
    Run.start("ppo", config, full).train(progress=False)
    assert "reward/airl/acc_expert" in read_metrics(full)[-1]
    cut = killed_after_checkpoint(full, 2, copy_to=tmp_path / "cut")
    Run.resume(cut).train(progress=False)
    assert logged_metrics(cut) == logged_metrics(full)
    assert_same_state(final_state(cut), final_state(full))


def test_airl_bad_inputs_are_named(tmp_path):
    env = Chain()
    old = tmp_path / "old.npz"
    save_demonstrations(old, np.zeros((4, 8), dtype=np.float32), np.zeros(4, dtype=np.int64))
    with pytest.raises(ConfigError, match=r"lacks \['next_obs', 'dones'\]; AIRL's shaping term needs"):
        get(
            "airl",
            observation_space=env.observation_space,
            action_space=env.action_space,
            demonstrations=str(old),
        )
    box = gym.spaces.Box(-1.0, 1.0, shape=(1,))
    with pytest.raises(ConfigError, match=r"cannot take the action space Box.*Discrete actions only"):
        get("airl", observation_space=env.observation_space, action_space=box, demonstrations=str(old))
    demos, _ = demonstrations(tmp_path, "expert")
    airl = get("airl", observation_space=env.observation_space, action_space=env.action_space,
               demonstrations=str(demos))  # fmt: skip
    saved = torch.load(airl.save_recovered(tmp_path / "g.pt"), weights_only=False)
    del saved["demo_range"], saved["potential"]  # as a file written before the range and h were stored
    torch.save(saved, tmp_path / "g_old.pt")
    with pytest.raises(ConfigError, match=r"shaped = true needs the potential h, which .*g_old.pt' lacks"):
        get("airl_recovered", observation_space=env.observation_space, action_space=env.action_space,
            path=str(tmp_path / "g_old.pt"), shaped=True)  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"clip = true needs g's range over the demonstrations, which .*g_old.pt"
    ):
        get("airl_recovered", observation_space=env.observation_space, action_space=env.action_space,
            path=str(tmp_path / "g_old.pt"), clip=True)  # fmt: skip
    with pytest.raises(ConfigError, match="path '.*nope.pt' is not a file written by AIRL.save_recovered"):
        get("airl_recovered", observation_space=env.observation_space, action_space=env.action_space,
            path=str(tmp_path / "nope.pt"))  # fmt: skip
