"""HRPO (MasHost): group-relative episode objectives plus action-wise rationality rewards, for a
policy that builds a multi-agent system step by step.

Paper: MasHost, "Builds It All: Autonomous Multi-Agent System Construction via Reinforcement
Learning" (2025), seeds_table row 9. Its code is "released upon acceptance", so the exact HRPO
formula is not public; the paper describes (a) the MAS construction MDP (add a role, delete,
exit, with a connect decision sampled jointly), (b) group-relative advantages of episode-level
objectives (accuracy and efficiency) over the systems built for the same query, and (c)
action-wise rewards for "component rationality". How they are combined is **our choice**::

    A_acc  = group_advantages(correct, G)       # (r - group mean) / (group std + 1e-4), GRPO's
    A_cost = group_advantages(-cost, G)
    A_t    = A_acc + cost_weight * A_cost + action_weight * rationality_t     (per action t)
    loss   = grpo_loss(log pi(a_t | s_t), A_t)  # on-policy clipped surrogate, token = action

``rationality_t`` is +1 / -1 per action (rewardlab.envs.mas_build.MASBuild.rationality: add a
needed role not yet connected, delete a redundant agent, exit once every needed role is
connected). ``action_weight = 0`` is the ablation with group-relative episode objectives only.

The policy is a small graph policy: an MLP over the query's needs and the graph's per-role counts
of connected and unconnected agents (a sum-pooled node encoding), with a head for the node action
(ADD k, DELETE k, EXIT) and a Bernoulli head for CONNECT; an action's log-probability is
``log pi(node) + [node is ADD] log pi(connect)``. The simulated agents are noisy solvers whose
accuracy and cost are exact (rewardlab.envs.mas_build); an episode's correctness is drawn from the
exact accuracy, so the accuracy objective is as noisy as a real judge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rewardlab.config import RunConfig, bounds
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import OBJECT, RNG, TORCH_RNG, spawn_rngs
from rewardlab.envs.mas_build import MASBuild
from rewardlab.errors import ConfigError
from rewardlab.llm.grpo import group_advantages, grpo_loss


def hrpo_advantages(
    correct: torch.Tensor,
    cost: torch.Tensor,
    rationality: torch.Tensor,
    num_generations: int,
    *,
    cost_weight: float = 0.1,
    action_weight: float = 0.5,
) -> torch.Tensor:
    """Per-action advantages ``(B, T)``: the group-relative advantages of the episode objectives
    (``correct`` (B,), higher is better; ``cost`` (B,), lower is better) broadcast over the
    episode's actions, plus ``action_weight`` times the action-wise rewards ``rationality`` (B, T)."""
    episode = group_advantages(correct.float(), num_generations) + cost_weight * group_advantages(
        -cost.float(), num_generations
    )
    return episode[:, None] + action_weight * rationality.float()


class GraphPolicy(nn.Module):
    def __init__(self, observation_size: int, n_node_actions: int, hidden_size: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(observation_size, hidden_size),
            nn.Tanh(),
            nn.Linear(hidden_size, hidden_size),
            nn.Tanh(),
        )
        self.node = nn.Linear(hidden_size, n_node_actions)
        self.connect = nn.Linear(hidden_size, 1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(obs)
        return torch.log_softmax(self.node(h), -1), self.connect(h).squeeze(-1)


@dataclass
class HRPOConfig(RunConfig):
    env: str = "mas-build"  # the simulated MAS-construction MDP (rewardlab.envs.mas_build)
    total_steps: int = 300  # iterations (one optimizer step each)
    eval_episodes: int = 200  # queries, built greedily
    # --- the simulated agents and queries ---
    roles: int = field(default=5, metadata=bounds(ge=1))
    max_required: int = field(default=2, metadata=bounds(ge=1))
    max_steps: int = field(default=6, metadata=bounds(ge=1))
    skill: float = 0.9
    agent_cost: float = 0.05
    edge_cost: float = 0.01
    # --- HRPO ---
    groups: int = field(default=8, metadata=bounds(ge=1))  # queries per iteration
    num_generations: int = 8  # systems built per query (G)
    # accuracy first, cost second (our choice; at 0.5 the episode-only ablation builds nothing)
    cost_weight: float = field(default=0.1, metadata=bounds(ge=0))
    action_weight: float = field(default=0.5, metadata=bounds(ge=0))  # 0 = episode objectives only
    epsilon: float = 0.2
    learning_rate: float = 3e-3
    hidden_size: int = field(default=64, metadata=bounds(ge=1))

    def validate(self) -> None:
        if self.env != "mas-build":
            raise ConfigError(
                f"hrpo builds multi-agent systems on env 'mas-build' only, got env {self.env!r}"
            )
        if self.num_generations < 2:
            raise ConfigError(
                f"hrpo: num_generations={self.num_generations}; a group method needs G >= 2 systems per query "
                "(the group-relative advantage of a single sample is 0)"
            )
        self.mas()  # the simulator's own checks

    def mas(self) -> MASBuild:
        return MASBuild(
            roles=self.roles,
            max_required=self.max_required,
            max_steps=self.max_steps,
            skill=self.skill,
            agent_cost=self.agent_cost,
            edge_cost=self.edge_cost,
        )


@dataclass
class Built:
    """A batch of finished episodes."""

    need: np.ndarray
    connected: np.ndarray
    loose: np.ndarray
    logprobs: torch.Tensor  # (B, T)
    mask: torch.Tensor  # (B, T)
    rationality: torch.Tensor  # (B, T)


class HRPO(Algorithm):
    """MasHost's HRPO on the simulated MAS-construction MDP; see the module docstring."""

    config_class = HRPOConfig
    summary = "HRPO (MasHost): build a multi-agent system step by step; group + action-wise rewards"
    curve_metric = "objective"
    state_fields = {"policy": OBJECT, "optimizer": OBJECT, "rng": RNG, "generator": TORCH_RNG}
    rebuilt_fields = ("mas", "eval_seed")
    config: HRPOConfig

    def __init__(self, config: HRPOConfig):
        super().__init__(config)
        self.mas = config.mas()
        self.rng, eval_rng = spawn_rngs(config.seed, 2)
        self.eval_seed = int(eval_rng.integers(2**63))
        self.generator = torch.Generator().manual_seed(config.seed)
        init = torch.random.get_rng_state()
        torch.manual_seed(config.seed)
        try:
            self.policy = GraphPolicy(self.mas.observation_size, self.mas.n_node_actions, config.hidden_size)
        finally:
            torch.random.set_rng_state(init)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate)

    def build(self, need: np.ndarray, *, greedy: bool = False) -> Built:
        """Run the MDP for every query of ``need`` (one row per episode) with the current policy."""
        mas, n = self.mas, len(need)
        connected = np.zeros_like(need)
        loose = np.zeros_like(need)
        alive = np.ones(n, dtype=bool)
        logps, masks, rational = [], [], []
        for t in range(mas.max_steps):
            obs = torch.as_tensor(mas.observation(need, connected, loose, t))
            node_logp, connect_logit = self.policy(obs)
            if greedy:
                node = node_logp.argmax(-1)
                connect = connect_logit > 0
            else:
                node = torch.multinomial(node_logp.exp().detach(), 1, generator=self.generator).squeeze(1)
                p = torch.sigmoid(connect_logit).detach()
                connect = torch.rand(n, generator=self.generator) < p
            add = node < mas.roles
            connect_logp = torch.where(
                connect, nn.functional.logsigmoid(connect_logit), nn.functional.logsigmoid(-connect_logit)
            )
            logps.append(node_logp.gather(1, node[:, None]).squeeze(1) + torch.where(add, connect_logp, 0.0))
            masks.append(torch.as_tensor(alive, dtype=torch.float32))
            node_np, connect_np = node.numpy(), connect.numpy()
            rational.append(torch.as_tensor(mas.rationality(need, node_np, connect_np, connected, loose)))
            new_c, new_l = mas.apply(node_np, connect_np, connected, loose)
            connected = np.where(alive[:, None], new_c, connected)
            loose = np.where(alive[:, None], new_l, loose)
            alive &= node_np != mas.exit_action
            if not alive.any():
                break
        return Built(
            need, connected, loose, torch.stack(logps, 1), torch.stack(masks, 1), torch.stack(rational, 1)
        )

    def _stats(self, built: Built) -> dict[str, float]:
        mas = self.mas
        accuracy = mas.accuracy(built.need, built.connected)
        cost = mas.cost(built.connected, built.loose)
        return {
            "accuracy": float(accuracy.mean()),
            "cost": float(cost.mean()),
            "objective": float((accuracy - cost).mean()),
            "agents": float((built.connected.sum(1) + built.loose.sum(1)).mean()),
            "redundant_agents": float(mas.redundant(built.need, built.connected, built.loose).mean()),
            "minimal_rate": float(mas.is_minimal(built.need, built.connected, built.loose).mean()),
        }

    def step(self) -> dict[str, float]:
        cfg, mas = self.config, self.mas
        need = np.repeat(mas.sample_queries(cfg.groups, self.rng), cfg.num_generations, axis=0)
        built = self.build(need)
        correct = torch.as_tensor(self.rng.random(len(need)) < mas.accuracy(need, built.connected))
        cost = torch.as_tensor(mas.cost(built.connected, built.loose))
        advantages = hrpo_advantages(
            correct,
            cost,
            built.rationality,
            cfg.num_generations,
            cost_weight=cfg.cost_weight,
            action_weight=cfg.action_weight,
        )
        loss = grpo_loss(built.logprobs, None, None, advantages, built.mask, epsilon=cfg.epsilon)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.global_step += 1
        metrics = self._stats(built)
        metrics.update(
            loss=float(loss.detach()),
            correct=float(correct.float().mean()),
            rational_actions=float(((built.rationality > 0).float() * built.mask).sum() / built.mask.sum()),
        )
        return metrics

    @torch.no_grad()
    def evaluate(self, episodes: int) -> dict[str, Any]:
        """Build a system greedily for ``episodes`` fresh queries (the same ones at every evaluation)."""
        need = self.mas.sample_queries(episodes, np.random.default_rng(self.eval_seed))
        built = self.build(need, greedy=True)
        returns = self.mas.accuracy(need, built.connected) - self.mas.cost(built.connected, built.loose)
        out: dict[str, Any] = {
            "mean_return": float(returns.mean()),
            "std_return": float(returns.std()),
            "episodes": episodes,
        }
        out.update(self._stats(built))
        return out

    def parameters_finite(self) -> str | None:
        for name, p in self.policy.named_parameters():
            if not torch.isfinite(p).all():
                return name
        return None


__all__ = ["HRPO", "HRPOConfig", "GraphPolicy", "hrpo_advantages"]
