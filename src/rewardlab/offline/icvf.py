"""ICVF: intention-conditioned value functions (Ghosh et al. 2023), V-PTR's pre-training phase.

V-PTR (Bhateja et al. 2023) pre-trains a representation by TD learning on action-free video with
ICVF, then runs offline RL (CQL) on robot data with that encoder. This file is the ICVF part, as
dibyaghosh/icvf_release has it (``src/icvf_learner.py``, ``src/icvf_networks.py``; docs/offline.md,
"V-PTR"):

- V(s, g, z) multilinear: phi(s), psi(g), psi(z) from two encoders, T(z) from an MLP on psi(z),
  V = sum((A (T(z) * phi(s))) * (B (T(z) * psi(g)))), an ensemble of two;
- reward 1[s = g] - 1, mask 1 - 1[s = g] (the same for the intent z);
- the intent's advantage adv = r_z + gamma m_z V'(s', z, z) - V'(s, z, z) (target network, the two
  members averaged), and each member regresses r_g + gamma m_g V'_i(s', g, z) with the expectile
  weight tau where adv >= 0 and 1 - tau where not (tau = 0.9); goals and intents are drawn 30 %
  random, 50 % future in the same trajectory, 20 % current.

The loss and the network are here; the sampler, the pre-training loop and the downstream V-PTR
experiment (few labelled target-task trajectories, pre-trained vs scratch) are ``vptr.py``.
"""

from __future__ import annotations

import torch
from torch import nn

from rewardlab.rl.common import mlp


def goal_reward_and_mask(is_goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(1[s = g] - 1, 1 - 1[s = g]) from a boolean 'the state is the goal'."""
    g = is_goal.float()
    return g - 1.0, 1.0 - g


def icvf_loss(
    v_gz: torch.Tensor,
    next_v_gz_target: torch.Tensor,
    v_zz_target: torch.Tensor,
    next_v_zz_target: torch.Tensor,
    reward_g: torch.Tensor,
    mask_g: torch.Tensor,
    reward_z: torch.Tensor,
    mask_z: torch.Tensor,
    *,
    gamma: float = 0.99,
    expectile: float = 0.9,
) -> torch.Tensor:
    """The ICVF loss. ``v_gz`` (n_members, B) = V_i(s, g, z) with gradient; the ``*_target`` are the
    target network's: ``next_v_gz_target`` (n_members, B) = V'_i(s', g, z), ``v_zz_target`` and
    ``next_v_zz_target`` (n_members, B) = V'(s, z, z), V'(s', z, z). Returns the sum over members
    of the batch mean of weight * (q_i - V_i)^2."""
    with torch.no_grad():
        adv = reward_z + gamma * mask_z * next_v_zz_target.mean(0) - v_zz_target.mean(0)
        weight = torch.where(adv >= 0, expectile, 1.0 - expectile)
        q = reward_g + gamma * mask_g * next_v_gz_target
    return (weight * (q - v_gz).pow(2)).mean(1).sum()


class MultilinearValue(nn.Module):
    """V(s, g, z) = sum((A (T(psi(z)) * phi(s))) * (B (T(psi(z)) * psi(g)))), ``members`` copies."""

    def __init__(self, obs_dim: int, dim: int = 64, hidden: tuple[int, ...] = (256, 256), members: int = 2):
        super().__init__()
        self.members = nn.ModuleList(
            nn.ModuleDict(
                {
                    "phi": mlp(obs_dim, hidden, dim, "relu"),
                    "psi": mlp(obs_dim, hidden, dim, "relu"),
                    "T": mlp(dim, hidden, dim, "relu"),
                    "A": nn.Linear(dim, dim),
                    "B": nn.Linear(dim, dim),
                }
            )  # fmt: skip
            for _ in range(members)
        )

    def forward(self, s: torch.Tensor, g: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = []
        for m in self.members:
            tz = m["T"](m["psi"](z))
            out.append((m["A"](tz * m["phi"](s)) * m["B"](tz * m["psi"](g))).sum(-1))
        return torch.stack(out)

    def representation(self, s: torch.Tensor) -> torch.Tensor:
        """phi(s) of the first member: what V-PTR hands to the downstream learner."""
        return self.members[0]["phi"](s)
