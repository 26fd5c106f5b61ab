"""Behaviour cloning: supervised regression of the dataset's actions on its observations.

Continuous actions: a deterministic tanh policy fit by mean squared error (d3rlpy ``BC`` with its
default ``policy_type="deterministic"``). Discrete actions: a categorical policy fit by negative
log-likelihood plus ``beta`` x mean(logits^2), d3rlpy ``DiscreteBC``'s regulariser that keeps the
logits from growing without bound on separable data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rewardlab.offline.common import DeterministicActor, OfflineAlgorithm, OfflineConfig, mlp_relu
from rewardlab.rl.common import LeanAdam


@dataclass
class BCConfig(OfflineConfig):
    # d3rlpy 2.8.1 BCConfig / DiscreteBCConfig (d3rlpy/algos/qlearning/bc.py)
    batch_size: int = 100
    learning_rate: float = 1e-3
    beta: float = 0.5  # discrete only: weight of mean(logits^2)


def bc_loss(predicted: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """mean((pi(s) - a)^2) over batch and action dimensions (d3rlpy compute_deterministic_imitation_loss)."""
    return F.mse_loss(predicted, actions)


def discrete_bc_loss(
    logits: torch.Tensor, actions: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(NLL of the data actions + beta mean(logits^2), the NLL alone) (d3rlpy compute_discrete_imitation_loss)."""
    nll = F.nll_loss(F.log_softmax(logits, dim=-1), actions)
    return nll + beta * logits.pow(2).mean(), nll


class BC(OfflineAlgorithm):
    config_class = BCConfig
    action_kind: ClassVar[str] = "any"
    summary = "Behaviour cloning on a Minari dataset, continuous (MSE) and discrete (NLL)"

    def build(self) -> None:
        c = self.config
        if self.discrete:
            self.policy: nn.Module = mlp_relu(self.obs_dim, c.hidden_sizes, self.act_dim)
        else:
            self.policy = DeterministicActor(self.obs_dim, self.act_dim, c.hidden_sizes)
        self.optimizer = LeanAdam(self.policy.parameters(), lr=c.learning_rate)

    def update(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        obs, actions = self.observations[idx], self.actions[idx]
        out = self.policy(obs)
        if self.discrete:
            loss, nll = discrete_bc_loss(out, actions, self.config.beta)
            metrics = {"loss": loss.detach(), "nll": nll.detach()}
        else:
            loss = bc_loss(out, actions)
            metrics = {"loss": loss.detach()}
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return metrics

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.policy(obs)
        return out.argmax(-1) if self.discrete else out

    def modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"policy": self.optimizer}
