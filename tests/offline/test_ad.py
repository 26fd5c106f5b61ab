"""Algorithm Distillation / T2MIR on Darkroom: AD's step tokens by hand, the named errors, and one
short T2MIR fit whose batches pair two windows of each task (the contrastive loss's positives)."""

import numpy as np
import pytest
import torch

from rewardlab.errors import ConfigError
from rewardlab.offline.ad import AD, ADConfig, step_tokens
from rewardlab.offline.darkroom import learning_history


def test_step_tokens_carry_the_previous_action_and_reward_across_episodes():
    data = learning_history(3, (1, 0), episodes=2, horizon=2, seed=0)
    x, a = step_tokens(data)
    assert x.shape == (4, 8) and a.tolist() == data.actions.tolist()
    assert x[0, 2:].tolist() == [0] * 6  # nothing before the first step
    for t in (1, 2, 3):  # step 2 opens episode 2: its previous step is episode 1's last
        assert x[t, 2 + a[t - 1]] == 1 and x[t, 2:7].sum() == 1 and x[t, 7] == data.rewards[t - 1]
    assert x[2, :2].tolist() == [0, 0]  # the reset observation, not the final one of episode 1


def test_bad_inputs_are_named():
    with pytest.raises(ConfigError, match="batch_size must be even"):
        ADConfig(t2mir=True, batch_size=3).validate()
    with pytest.raises(ConfigError, match="at least one learning history"):
        AD([], ADConfig())
    short = learning_history(3, (1, 0), episodes=2, horizon=5, seed=0)
    with pytest.raises(ConfigError, match=r"histories \[0\] are shorter than the context of 20 steps"):
        AD([short], ADConfig(context_episodes=4))


def test_t2mir_fit_pairs_tasks_and_reports_expert_loads():
    torch.set_num_threads(1)
    histories = [
        learning_history(3, g, episodes=6, horizon=4, seed=i) for i, g in enumerate([(1, 0), (2, 2)])
    ]
    model = AD(
        histories, ADConfig(t2mir=True, steps=3, batch_size=4, hidden=16, num_heads=2, context_episodes=2)
    )
    drawn = []
    model.window = lambda task, inner=model.window: drawn.append(task) or inner(task)  # noqa: E731
    log = model.fit()
    assert all(
        drawn[i : i + 2] == drawn[i + 2 : i + 4] for i in range(0, len(drawn), 4)
    )  # halves: same tasks
    assert {"ce", "balance", "contrastive"} <= set(log[-1]) and np.isfinite([r["ce"] for r in log]).all()
    out = model.in_context(3, [(1, 1)], episodes=2)
    assert out["returns"].shape == (1, 2) and {"token_load_cv2", "task_load_cv2"} <= set(out)
