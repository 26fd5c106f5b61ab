"""Turn-level credit (MT-GRPO, GiGPO): hand-computed values, the loop's wiring, and the mechanism.

The behavioural tests train a tabular softmax policy (one logit row per turn / state) by the policy
gradient with each credit rule's advantages, so they test the credit rules alone, in milliseconds:
turn-level credit must beat episode credit on a chain of independent per-turn choices (the control
arm), and MT-GRPO must show the bias its per-turn-index normalisation has when the policy chooses
the episode's length (verl RFC #7244) while episode credit and GiGPO do not.
"""

import math
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rewardlab.agents.credit import (
    gigpo_advantages,
    mt_grpo_advantages,
    per_token,
    return_to_go_advantages,
)
from rewardlab.agents.env import AgentTask, StepResult, ToolEnv
from rewardlab.agents.rollout import AgentConfig, AgentLoop, oracle_actor, scripted_policy
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.llm.grpo import group_advantages

EPS = 1e-4


# ---- hand-computed values -----------------------------------------------------------------------


def test_mt_grpo_by_hand():
    # group of 3: turn rewards (1, 0), (0, 0), (1,); episode advantages given
    # turn 0: values 1, 0, 1 -> mean 2/3, Bessel std sqrt(((1/3)^2 * 2 + (2/3)^2) / 2) = sqrt(1/3)
    # turn 1: only episodes 0 and 1 reached it, both 0 -> no turn term
    adv = mt_grpo_advantages([[1.0, 0.0], [0.0, 0.0], [1.0]], [0.5, -1.0, 0.5], num_generations=3, coef=0.5)
    std = math.sqrt(1 / 3)
    hi, lo = (1 / 3) / (std + EPS), (-2 / 3) / (std + EPS)
    assert adv[0] == pytest.approx([0.5 + 0.5 * hi, 0.5], rel=1e-9)
    assert adv[1] == pytest.approx([-1.0 + 0.5 * lo, -1.0], rel=1e-9)
    assert adv[2] == pytest.approx([0.5 + 0.5 * hi], rel=1e-9)


def test_mt_grpo_normalises_per_group_and_a_lone_survivor_gets_no_turn_term():
    # two groups of 2; in group 2 only episode 3 reaches turn 1, so its turn-1 term is 0
    adv = mt_grpo_advantages([[0.0], [2.0], [1.0], [1.0, 5.0]], [0.0, 0.0, 1.0, -1.0], num_generations=2)
    z = 1.0 / (math.sqrt(2.0) + EPS)  # values (0, 2): mean 1, Bessel std sqrt(2)
    assert adv[0] == pytest.approx([-z]) and adv[1] == pytest.approx([z])
    assert adv[2] == [1.0] and adv[3] == [-1.0, -1.0]  # turn 0 values equal; turn 1 has one episode


def test_gigpo_by_hand():
    # group of 3, gamma 0.5. episode 0: r = (0, 0), R = 1, anchors (s0, s1) -> G = (0.5, 1)
    # episode 1: r = (0,), R = 0, anchor (s0,) -> G = (0,); episode 2: r = (0, 0), R = 0, (s0, sX) -> (0, 0)
    # step group s0 holds G = 0.5, 0, 0: mean 1/6, Bessel std sqrt(1/12); s1 and sX have one step -> 0
    keys = [["s0", "s1"], ["s0"], ["s0", "sX"]]
    ea = [1.0, -0.5, -0.5]
    adv = gigpo_advantages([[0.0, 0.0], [0.0], [0.0, 0.0]], [1.0, 0.0, 0.0], keys, ea, 3, gamma=0.5, coef=2.0)
    std = math.sqrt(1 / 12)
    assert adv[0] == pytest.approx([1.0 + 2.0 * (1 / 3) / (std + EPS), 1.0], rel=1e-9)
    assert adv[1] == pytest.approx([-0.5 + 2.0 * (-1 / 6) / (std + EPS)], rel=1e-9)
    assert adv[2] == pytest.approx([-0.5 + 2.0 * (-1 / 6) / (std + EPS), -0.5], rel=1e-9)
    # mean_norm mode: centred returns, no division
    plain = gigpo_advantages(
        [[0.0, 0.0], [0.0], [0.0, 0.0]], [1.0, 0.0, 0.0], keys, ea, 3, gamma=0.5, step_std=False
    )
    assert plain[0][0] == pytest.approx(1.0 + 1 / 3) and plain[1][0] == pytest.approx(-0.5 - 1 / 6)


def test_gigpo_step_groups_never_cross_prompt_groups():
    # the same anchor key in two prompt groups: each group of 2 is normalised on its own
    adv = gigpo_advantages([[0.0]] * 4, [1.0, 0.0, 3.0, 3.0], [["s"]] * 4, [0.0] * 4, 2, gamma=1.0)
    z = 0.5 / (math.sqrt(0.5) + EPS)
    assert [a[0] for a in adv] == pytest.approx([z, -z, 0.0, 0.0])


def test_credit_functions_reject_misaligned_inputs():
    with pytest.raises(RewardlabError, match="3 episodes do not split into groups of num_generations=2"):
        mt_grpo_advantages([[0.0]] * 3, [0.0] * 3, 2)
    with pytest.raises(RewardlabError, match="episode 0 has 2 turns but 1 anchor states"):
        gigpo_advantages([[0.0, 0.0]], [0.0], [["s"]], [0.0], 1)


def test_mt_grpo_warns_about_its_bias_and_new_keys_are_checked():
    with pytest.warns(UserWarning, match="biased when the policy decides when to stop"):
        AgentConfig.from_dict({"advantage": "mt_grpo"})
    with pytest.raises(ConfigError, match="env_workers must be >= 0"):
        AgentConfig.from_dict({"env_workers": -1})


# ---- through the agent loop ---------------------------------------------------------------------


def _lookup_loop(advantage: str, G: int = 4, **agent):
    from rewardlab import agents

    task = agents.make("lookup", protocol="positional", lookup_bonus=0.5, num_train=4, num_test=4)
    cfg = AgentConfig(advantage=advantage, **agent) if advantage != "mt_grpo" else None
    if cfg is None:
        with pytest.warns(UserWarning):
            cfg = AgentConfig.from_dict({"advantage": advantage, **agent})
    loop = AgentLoop(scripted_policy(), task, task.reward(), cfg, max_completion_length=40)
    loop.algo = SimpleNamespace(
        config=SimpleNamespace(num_generations=G), compute_advantages=lambda r: group_advantages(r, G)
    )
    return loop, task


def _half_wrong(episodes, envs):
    """Even episodes look up the right key, odd ones a wrong key; both answer what they were told."""
    out = []
    for k, (ep, env) in enumerate(zip(episodes, envs)):
        if len(ep.turns) == 0 and k % 2:
            out.append(str((int(env.key) + 1) % 10))
        else:
            out.append(oracle_actor([ep], [env])[0])
    return out


@pytest.mark.parametrize("advantage", ["mt_grpo", "gigpo"])
def test_the_loop_feeds_its_episodes_to_the_credit_functions(advantage):
    loop, task = _lookup_loop(advantage, gamma=0.9)
    eps = loop.run(task.examples("train")[:2], num_generations=4, seeds=[0, 1], actor=_half_wrong)
    batch = loop.to_batch(eps, 4)
    rewards = torch.tensor(loop.reward([ep.sample() for ep in eps]), dtype=torch.float32)
    assert rewards.tolist() == [1.5, 0.0, 1.5, 0.0] * 2  # right key: 1 + lookup bonus; wrong key: 0
    assert [ep.turn_rewards for ep in eps] == [[0.5, 0.0], [0.0, 0.0]] * 4
    ea = group_advantages(rewards, 4).tolist()
    if advantage == "mt_grpo":
        expected = mt_grpo_advantages([ep.turn_rewards for ep in eps], ea, 4, 1.0)
    else:
        # anchors: the reset prompt (shared by the group), then the observation each turn acted on
        assert eps[0].state_keys[0] == eps[1].state_keys[0] and eps[0].state_keys[1] != eps[1].state_keys[1]
        assert eps[0].state_keys[1] == eps[2].state_keys[1]
        keys = [ep.state_keys for ep in eps]
        expected = gigpo_advantages([ep.turn_rewards for ep in eps], rewards.tolist(), keys, ea, 4, gamma=0.9)
    assert loop.turn_advantages(rewards) == expected
    tokens = loop.advantages(rewards, batch)
    assert torch.equal(tokens, per_token(expected, loop.turn_index))
    # the first turn of a right-key episode gets more credit than its (equally rewarded) answer turn
    assert expected[0][0] > expected[0][1] > 0 > expected[1][1]


def test_env_thread_pool_steps_concurrently_and_records_the_same_episodes():
    from rewardlab import agents

    def episodes(workers):
        task = agents.make("mini-search")
        loop = AgentLoop(
            scripted_policy(),
            task,
            task.reward(),
            AgentConfig(env_workers=workers),
            max_completion_length=4096,
        )
        eps = loop.run(task.examples("test")[:3], num_generations=2, seeds=[5, 6, 7], actor=oracle_actor)
        loop.close()
        return [
            (ep.trajectory.ids, ep.trajectory.loss_mask, ep.messages, ep.turn_rewards, ep.counts)
            for ep in eps
        ]

    assert episodes(4) == episodes(0)

    class Slow(ToolEnv):
        name = "slow"
        running = 0
        peak = 0
        lock = threading.Lock()

        def reset(self, *, seed, task=None):
            return [{"role": "user", "content": "go"}], {}

        def step(self, action):
            cls = type(self)
            with cls.lock:
                cls.running += 1
                cls.peak = max(cls.peak, cls.running)
            time.sleep(0.05)
            with cls.lock:
                cls.running -= 1
            return StepResult([], 0.0, True, False, {})

        def problems(self, split, seed):
            from rewardlab.tasks.base import Example

            return [Example(prompt=None, reference="1")]

    task = AgentTask(Slow)
    loop = AgentLoop(
        scripted_policy(), task, task.reward(), AgentConfig(env_workers=4), max_completion_length=20
    )
    loop.run(task.examples("train"), num_generations=8, seeds=[0], actor=lambda eps, envs: ["x"] * len(eps))
    loop.close()
    assert Slow.peak >= 2  # 8 steps of 50 ms on 4 threads overlap; in order they never would


# ---- the mechanism: a tabular policy trained with each credit rule --------------------------------


def _credit(mode, turn_rewards, keys, G):
    totals = [sum(r) for r in turn_rewards]
    ea = group_advantages(torch.tensor(totals), G).tolist()
    if mode == "episode":
        return [[a] * len(r) for a, r in zip(ea, turn_rewards)]
    if mode == "return_to_go":
        return return_to_go_advantages(turn_rewards, totals, G)
    if mode == "mt_grpo":
        return mt_grpo_advantages(turn_rewards, ea, G)
    return gigpo_advantages(turn_rewards, totals, keys, ea, G, gamma=1.0)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _chain_steps(mode, seed, T=6, K=4, G=8, groups=2, lr=0.5, limit=300):
    """Steps until P(all T turns right) >= 0.9; turn t pays 1 when its action is 0."""
    rng = np.random.default_rng(seed)
    theta = np.zeros((T, K))
    for step in range(limit):
        p = _softmax(theta)
        if np.prod(p[:, 0]) >= 0.9:
            return step
        acts = [[rng.choice(K, p=p[t]) for t in range(T)] for _ in range(G * groups)]
        rewards = [[float(a == 0) for a in row] for row in acts]
        adv = _credit(mode, rewards, [list(range(T))] * len(acts), G)
        grad = np.zeros_like(theta)
        for row, A in zip(acts, adv):
            for t, a in enumerate(row):
                g = -p[t]
                g[a] += 1.0
                grad[t] += A[t] * g
        theta += lr * grad / len(acts)
    return limit


def test_turn_level_credit_learns_a_chain_of_choices_faster_than_episode_credit():
    steps = {m: np.mean([_chain_steps(m, s) for s in range(2)]) for m in ("episode", "mt_grpo", "gigpo")}
    # measured: episode ~80 steps, mt_grpo ~29, gigpo ~36 (docs/agents.md)
    assert steps["episode"] < 300  # the control arm does learn, only slower
    assert steps["mt_grpo"] <= 0.6 * steps["episode"]
    assert steps["gigpo"] <= 0.6 * steps["episode"]


def _p_go(mode, seed, G=8, groups=2, lr=0.5, steps=150):
    """Stop now for r = 1, or go on: r = 0 now and 2 with probability 0.75 next turn (return 1.5)."""
    rng = np.random.default_rng(seed)
    theta = np.zeros(2)  # logits of stop, go
    for _ in range(steps):
        p = _softmax(theta)
        acts = rng.choice(2, size=G * groups, p=p)
        rewards = [[1.0] if a == 0 else [0.0, 2.0 * (rng.random() < 0.75)] for a in acts]
        keys = [["start"] if a == 0 else ["start", "after-go"] for a in acts]
        adv = _credit(mode, rewards, keys, G)
        grad = np.zeros(2)
        for a, A in zip(acts, adv):
            g = -p
            g[a] += 1.0
            grad += A[0] * g
        theta += lr * grad / len(acts)
    return _softmax(theta)[1]


def test_mt_grpo_is_biased_towards_stopping_when_the_policy_chooses_the_length():
    p = {m: np.mean([_p_go(m, s) for s in range(2)]) for m in ("episode", "mt_grpo", "gigpo")}
    # going on returns 1.5 > 1: episode credit and GiGPO learn to go on (2 turns); MT-GRPO compares
    # the stopper's final turn (r = 1) with the goer's first turn (r = 0) and learns to stop (1 turn)
    assert p["episode"] > 0.9 and p["gigpo"] > 0.9
    assert p["mt_grpo"] < 0.1
