"""Building a multi-agent system as an MDP, over simulated solver agents (MasHost, seeds_table row 9).

MasHost builds an LLM multi-agent system for a query step by step; its code is not released, so
this simulator is ours (docs/lm_optimisers_group.md). Every part of it is computable:

* **Roles.** ``K`` roles; an agent of role ``k`` solves sub-skill ``k`` of a query correctly with
  probability ``skill[k]`` (a noisy solver). Two agents of the same role make the same mistakes
  (same model, same prompt), so a duplicate adds cost and no accuracy.
* **Queries.** A query needs a set of sub-skills (1 to ``max_required`` of the ``K``, drawn
  uniformly). The system answers correctly when every needed sub-skill is solved by a *connected*
  agent (its message reaches the answer), so the exact accuracy is ``prod_{k needed} skill[k]``
  when every needed role is connected, and 0 otherwise; an episode draws correctness from it.
* **Cost.** ``agent_cost`` per agent in the graph (it runs whether or not it is connected) plus
  ``edge_cost`` per connection.
* **Actions** (one per step, sampled jointly): a node action, ``ADD k`` (k < K), ``DELETE k``
  (removes the newest agent of role k) or ``EXIT``, and an edge action ``CONNECT`` (a bit: whether
  an added agent is connected to the answer; ignored for DELETE and EXIT). An episode ends at
  EXIT or after ``max_steps`` actions.

The *minimal sufficient role set* of a query is one connected agent of each needed role and
nothing else: the highest accuracy at the lowest cost. All arrays are batched over episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rewardlab.errors import ConfigError


@dataclass
class MASBuild:
    roles: int = 5
    max_required: int = 2
    max_steps: int = 6
    skill: float = 0.9  # every role's sub-skill accuracy
    agent_cost: float = 0.05
    edge_cost: float = 0.01

    def __post_init__(self) -> None:
        if self.roles < 1 or not 1 <= self.max_required <= self.roles or self.max_steps < 1:
            raise ConfigError(
                f"mas-build: need roles >= 1, 1 <= max_required <= roles and max_steps >= 1; got roles="
                f"{self.roles}, max_required={self.max_required}, max_steps={self.max_steps}"
            )
        if not 0.0 < self.skill <= 1.0:
            raise ConfigError(f"mas-build: skill must be in (0, 1], got {self.skill}")

    @property
    def n_node_actions(self) -> int:
        return 2 * self.roles + 1  # ADD k, DELETE k, EXIT

    @property
    def exit_action(self) -> int:
        return 2 * self.roles

    def sample_queries(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, K)`` 0/1 masks of the sub-skills each query needs."""
        need = np.zeros((n, self.roles), dtype=np.int64)
        sizes = rng.integers(1, self.max_required + 1, size=n)
        for i, size in enumerate(sizes):
            need[i, rng.choice(self.roles, size=size, replace=False)] = 1
        return need

    def observation(self, need: np.ndarray, connected: np.ndarray, loose: np.ndarray, t: int) -> np.ndarray:
        """The policy's view of the state: the query's needs, the graph as per-role counts of
        connected and unconnected agents (a sum-pooled node encoding), and the time left."""
        left = np.full((len(need), 1), (self.max_steps - t) / self.max_steps)
        return np.concatenate([need, connected, loose, left], axis=1).astype(np.float32)

    @property
    def observation_size(self) -> int:
        return 3 * self.roles + 1

    def apply(
        self, node: np.ndarray, connect: np.ndarray, connected: np.ndarray, loose: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The graphs after one action per episode (EXIT leaves them unchanged). DELETE k removes an
        unconnected agent of role k if there is one, else a connected one."""
        connected, loose = connected.copy(), loose.copy()
        rows = np.arange(len(node))
        add = node < self.roles
        role = np.where(add, node, node - self.roles) % self.roles
        connected[rows[add & connect], role[add & connect]] += 1
        loose[rows[add & ~connect], role[add & ~connect]] += 1
        delete = (node >= self.roles) & (node < self.exit_action)
        from_loose = delete & (loose[rows, role] > 0)
        from_connected = delete & ~from_loose & (connected[rows, role] > 0)
        loose[rows[from_loose], role[from_loose]] -= 1
        connected[rows[from_connected], role[from_connected]] -= 1
        return connected, loose

    def accuracy(self, need: np.ndarray, connected: np.ndarray) -> np.ndarray:
        """Exact probability that the system answers correctly (module docstring)."""
        covered = ((connected > 0) | (need == 0)).all(axis=1)
        return np.where(covered, self.skill ** need.sum(axis=1), 0.0)

    def cost(self, connected: np.ndarray, loose: np.ndarray) -> np.ndarray:
        agents = connected.sum(axis=1) + loose.sum(axis=1)
        return self.agent_cost * agents + self.edge_cost * connected.sum(axis=1)

    def redundant(self, need: np.ndarray, connected: np.ndarray, loose: np.ndarray) -> np.ndarray:
        """Agents beyond the minimal sufficient set: unconnected ones, ones of roles the query does
        not need, and duplicates."""
        useful = np.minimum(connected, need).sum(axis=1)
        return connected.sum(axis=1) + loose.sum(axis=1) - useful

    def is_minimal(self, need: np.ndarray, connected: np.ndarray, loose: np.ndarray) -> np.ndarray:
        return (connected == need).all(axis=1) & (loose == 0).all(axis=1)

    def rationality(
        self,
        need: np.ndarray,
        node: np.ndarray,
        connect: np.ndarray,
        connected: np.ndarray,
        loose: np.ndarray,
    ) -> np.ndarray:
        """Action-wise rationality rewards (+1 / -1) of one action taken in the given graphs (our
        rule; MasHost's is not public): ADD is rational when it connects a needed role not yet
        connected; DELETE when it removes a redundant agent (unconnected, unneeded or a duplicate);
        EXIT when the connected agents cover every needed role."""
        rows = np.arange(len(node))
        add = node < self.roles
        delete = (node >= self.roles) & (node < self.exit_action)
        role = np.where(add, node, node - self.roles) % self.roles
        have_c, have_l, needed = connected[rows, role], loose[rows, role], need[rows, role] > 0
        good_add = add & connect & needed & (have_c == 0)
        good_delete = delete & ((have_l > 0) | ((have_c > 0) & (~needed | (have_c > 1))))
        covered = ((connected > 0) | (need == 0)).all(axis=1)
        good_exit = (node == self.exit_action) & covered
        return np.where(good_add | good_delete | good_exit, 1.0, -1.0)


__all__ = ["MASBuild"]
