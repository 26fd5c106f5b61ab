"""Conservative Q-Learning for discrete actions (Kumar et al., 2020, arXiv:2006.04779, section 3.2).

Double DQN plus the CQL(H) penalty alpha x mean_s(logsumexp_a Q(s, a) - Q(s, a_data)): with a
finite action set the logsumexp is exact, no sampling needed. As d3rlpy's DiscreteCQLImpl on its
DoubleDQNImpl (d3rlpy/algos/qlearning/torch/cql_impl.py, dqn_impl.py): Huber TD loss against
y = r + gamma (1 - terminated) Q'(s', argmax_a Q(s', a)), one Adam step on td + alpha x penalty, and
a hard copy to the target network every ``target_update_interval`` gradient steps (counting from
the first). One Q-network (d3rlpy's default ``n_critics=1``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rewardlab.offline.common import OfflineAlgorithm, OfflineConfig, mlp_relu, td_target
from rewardlab.rl.common import LeanAdam


@dataclass
class DiscreteCQLConfig(OfflineConfig):
    # d3rlpy 2.8.1 DiscreteCQLConfig (d3rlpy/algos/qlearning/cql.py)
    learning_rate: float = 6.25e-5
    batch_size: int = 32
    target_update_interval: int = 8000
    alpha: float = 1.0


def discrete_cql_penalty(q_values: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """mean_s(logsumexp_a Q(s, a) - Q(s, a_data)) for Q (B, A) and data actions (B,)."""
    data = q_values.gather(1, actions.unsqueeze(1)).squeeze(1)
    return (torch.logsumexp(q_values, dim=1) - data).mean()


class DiscreteCQL(OfflineAlgorithm):
    config_class = DiscreteCQLConfig
    action_kind: ClassVar[str] = "discrete"
    summary = "Conservative Q-Learning for discrete actions (Double DQN + CQL(H) penalty; Kumar et al. 2020)"

    def build(self) -> None:
        c = self.config
        self.q = mlp_relu(self.obs_dim, c.hidden_sizes, self.act_dim)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.optimizer = LeanAdam(self.q.parameters(), lr=c.learning_rate)

    def update(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        obs, actions, next_obs = self.observations[idx], self.actions[idx], self.next_observations[idx]
        with torch.no_grad():
            best = self.q(next_obs).argmax(dim=1, keepdim=True)  # Double DQN: online net picks
            next_q = self.q_target(next_obs).gather(1, best).squeeze(1)
            y = td_target(self.rewards[idx], self.terminations[idx], next_q, c.gamma)
        q_values = self.q(obs)
        td_loss = F.smooth_l1_loss(q_values.gather(1, actions.unsqueeze(1)).squeeze(1), y)
        penalty = discrete_cql_penalty(q_values, actions)
        loss = td_loss + c.alpha * penalty
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self.updates % c.target_update_interval == 0:
            self.q_target.load_state_dict(self.q.state_dict())
        return {"td_loss": td_loss.detach(), "conservative_loss": penalty.detach()}

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q(obs).argmax(-1)

    def modules(self) -> dict[str, nn.Module]:
        return {"q": self.q, "q_target": self.q_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"q": self.optimizer}
