"""ROVER: the loss against hand-computed values, the tabular theorem with a control that fails,
the bad-input errors, and training on the tiny model through the shared online loop."""

import math

import numpy as np
import pytest
import torch
from conftest import tiny_policy

from rewardlab.errors import ConfigError
from rewardlab.llm.rover import (
    ROVERConfig,
    greedy_leaf,
    random_tree,
    rover_loss,
    rover_loss_terms,
    rover_targets,
    sampled_return,
    tree_has_success,
    tree_uniform_q,
)

# two sequences of 3 tokens, the second 2 long (its third column is padding with wild values)
LOGP = [[-1.0, -2.0, -0.5], [-0.2, -0.3, 9.0]]
OLD = [[-1.5, -2.0, -1.0], [-0.2, -0.1, 0.0]]
VM = [[-3.0, -4.0, -5.0], [-1.0, -2.0, -3.0]]
OLD_VM = [[-3.0, -4.5, -4.0], [-1.0, -2.5, 7.0]]
MASK = [[1, 1, 1], [1, 1, 0]]
R = [1.0, -0.5]


def _tensors():
    lp = torch.tensor(LOGP, requires_grad=True)
    return lp, torch.tensor(OLD), torch.tensor(VM), torch.tensor(OLD_VM), torch.tensor(R), torch.tensor(MASK)


def test_targets_by_hand():
    # m = vm - old_vm = [[0, .5, -1], [0, .5, *]]; y_t = r + m_{t+1} (0 after the last token)
    _, _, vm, old_vm, r, mask = _tensors()
    y = rover_targets(r, vm, old_vm, mask)
    torch.testing.assert_close(y[0], torch.tensor([1.5, 0.0, 1.0]))
    torch.testing.assert_close(y[1, :2], torch.tensor([0.0, -0.5]))


def test_loss_and_gradient_by_hand():
    lp, old, vm, old_vm, r, mask = _tensors()
    # Q^ = [[.5, 0, .5], [0, -.2]]; y = [[1.5, 0, 1], [0, -.5]]
    # squares 1, 0, .25, 0, .09 over 5 tokens
    loss = rover_loss(lp, old, vm, old_vm, r, mask)
    assert loss.item() == pytest.approx(1.34 / 5)
    loss.backward()
    # d/dlogp (q - y)^2 / N = 2 (q - y) / N, nothing through the padding
    expected = torch.tensor([[-1.0, 0.0, -0.5], [0.0, 0.3, 0.0]]) * 2 / 5
    torch.testing.assert_close(lp.grad, expected)


def test_rover_t_scales_q_and_next_value():
    lp, old, vm, old_vm, r, mask = _tensors()
    # rho 2: Q^ = [[1, 0, 1], [0, -.4]]; y = [[1 + 2(.5), 1 + 2(-1), 1], [-.5 + 2(.5), -.5]]
    # -> squares 1, 1, 0, .25, .01
    assert rover_loss(lp, old, vm, old_vm, r, mask, rover_t=2.0).item() == pytest.approx(2.26 / 5)


def test_clip_freezes_tokens_pushed_past_the_bound():
    lp, old, vm, old_vm, r, mask = _tensors()
    out = rover_loss_terms(lp, old, vm, old_vm, r, mask, clip_ratio=0.2)
    hi = math.log(1.2)
    # row 0, tokens 0 and 2: Q^ = .5 > log 1.2 with a target above it -> Q^ = log 1.2, no gradient
    assert out.loss.item() == pytest.approx(((hi - 1.5) ** 2 + 0 + (hi - 1.0) ** 2 + 0 + 0.09) / 5)
    assert out.clip_high.item() == pytest.approx(2 / 5) and out.clip_low.item() == 0.0
    out.loss.backward()
    assert lp.grad[0, 0] == 0 and lp.grad[0, 2] == 0 and lp.grad[1, 1] == pytest.approx(0.6 / 5)


def test_uniform_policy_greedy_is_optimal_on_random_trees():
    """The tabular theorem: 1,000 random depth-3 trees with 0/1 leaves; greedy on Q^uniform reaches
    a success leaf whenever one exists. The control, greedy on one sampled return per action, fails."""
    rng = np.random.default_rng(0)
    trees = [random_tree(rng, depth=3, max_branching=3, p_success=0.2) for _ in range(1000)]
    solvable = [t for t in trees if tree_has_success(t)]
    assert 300 < len(solvable) < 1000  # both kinds occur
    assert all(greedy_leaf(t, tree_uniform_q) == 1 for t in solvable)
    control = sum(greedy_leaf(t, sampled_return(rng)) for t in solvable)
    assert control < 0.9 * len(solvable), control
    # and greedy never "finds" a success that does not exist
    assert all(greedy_leaf(t, tree_uniform_q) == 0 for t in trees if not tree_has_success(t))


@pytest.mark.parametrize(
    "sets, match",
    [
        (
            {"beta": 0.04},
            r"beta=0\.04.*no reference model.*Valid: rover: beta = 0.*grpo or rloo with beta > 0",
        ),
        ({"num_generations": 1}, r"num_generations=1.*>= 2.*Valid: rover: beta = 0"),
    ],
)
def test_bad_combinations_are_named(sets, match):
    with pytest.raises(ConfigError, match=match):
        ROVERConfig(**sets).validate()


def test_regression_stops_at_the_softmax_policy_where_the_policy_gradient_does_not():
    """ROVER's fixed point on a batch: least squares drives log pi(a)/pi_old(a) to r~ / rover_t (the
    policy pi_old * exp(Q / rho)) and then stops. The control, the unclipped policy-gradient loss on
    the same samples, keeps pushing the rewarded token towards probability 1."""
    from rewardlab.llm.grpo import grpo_loss

    old_logits = torch.tensor([0.5, 0.0, -0.5, 0.2, -1.0, 0.3])
    old = torch.log_softmax(old_logits, -1)
    actions, r = torch.tensor([0, 1]), torch.tensor([0.5, -0.5])
    mask = torch.ones(2, 1)

    def train(loss_fn, steps=300):
        logits = old_logits.clone().requires_grad_(True)
        opt = torch.optim.SGD([logits], lr=0.25)
        for _ in range(steps):
            lp = torch.log_softmax(logits, -1)
            loss = loss_fn(lp[actions].unsqueeze(1), old[actions].unsqueeze(1), lp, old)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return torch.log_softmax(logits.detach(), -1)

    def rover(lp_a, old_a, lp, old_lp):
        vm = lp.mean().expand(2, 1)  # one-token completions: the next-state value is never used
        return rover_loss(lp_a, old_a, vm, old_lp.mean().expand(2, 1), r, mask, rover_t=2.0)

    new = train(rover)
    # Q^ = rho * log-ratio = r~  ->  log-ratio = r~ / rho
    torch.testing.assert_close(new[actions] - old[actions], r / 2.0, atol=1e-3, rtol=0)
    pg = train(
        lambda lp_a, old_a, lp, old_lp: grpo_loss(lp_a, None, None, r, mask, loss_type="bnpo", epsilon=1e9)
    )
    assert (pg[0] - old[0]) > 1.0  # far past the softmax policy's 0.25
    assert pg[0].exp() > 0.6 > new[0].exp()


def test_rover_learns_a_task_with_several_answers_through_the_online_loop():
    """ROVER raises the reward of the tiny model through the shared loop (num_iterations 4: the
    off-policy target with pi_old's vocabulary means). A sign error in Q^ or y would make it fall."""
    pytest.importorskip("transformers")

    from rewardlab.llm.rover import ROVER
    from rewardlab.tasks.digits import ThreeAnswers

    cfg = ROVERConfig(
        env="", num_threads=1, batch_size=5, num_generations=8, max_completion_length=1, max_prompt_length=8,
        micro_batch_size=64, lr_scheduler="constant", lora_r=0, total_steps=60, num_iterations=4,
        learning_rate=1e-3,
    )  # fmt: skip
    algo = ROVER(cfg, policy=tiny_policy(cfg), task=ThreeAnswers(seed=0))
    rewards = [algo.step()["reward"] for _ in range(60)]
    assert np.mean(rewards[:4]) < 0.4  # chance: 3 of 14 tokens
    assert np.mean(rewards[-8:]) > 0.6, rewards[-10:]


def test_example_config_resolves():
    from pathlib import Path

    from rewardlab.config import build_config

    root = Path(__file__).resolve().parents[2]
    cfg = build_config(ROVERConfig, files=[root / "examples" / "rover_smollm2_arithmetic.toml"])
    cfg.validate()
    assert cfg.model == "smollm2-135m-instruct" and cfg.env == "arithmetic" and cfg.beta == 0.0
