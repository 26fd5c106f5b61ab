"""Goal-conditioned reward model (arXiv 2407.13887, vaskarnathscale/goal-conditioned-rm): Bradley-Terry
plus a contrastive goal term on the hidden states.

As read in that OpenRLHF fork (``ContrastiveGoalLoss``): positions ``source < goal`` inside the
*chosen* response should have similar hidden states (the response moves towards where it ends),
and a position of the chosen response should be unlike positions of the *rejected* one:

    pos = mean_k sigmoid(cos(h_c[s_k], h_c[g_k]))          (sim_samples pairs, g_k after s_k)
    neg = mean_k sigmoid(cos(h_c[s'_k], h_r[j_k]))        (unsim_samples pairs)
    L_goal = beta * (-log pos - log(1 - neg))              (beta = contrastive_loss_beta = 0.5)

(the logs taken after averaging, as the fork does). The total loss is the Bradley-Terry loss plus
``L_goal`` for each pair. ``q_value(prefix, goal)`` is the paper's ``Q(s, g) = cos(f(s), f(g))``:
how far a partial generation has moved towards a goal text. Positions are drawn from the model's
own generator over each text's real tokens (the fork restricts them to the response and to
percentile ranges; here the whole ``prompt + completion`` is used).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rewardlab.rewards.learned.bradley_terry import BradleyTerry, Pairs, bradley_terry_loss, last_token_index


def contrastive_goal_term(
    h_chosen: torch.Tensor,
    h_rejected: torch.Tensor,
    positive: Sequence[tuple[int, int]],
    negative: Sequence[tuple[int, int]],
    beta: float = 0.5,
) -> torch.Tensor:
    """``beta * (-log mean sigmoid(cos(h_c[s], h_c[g])) - log(1 - mean sigmoid(cos(h_c[s'], h_r[j]))))``
    for one pair; ``h_*`` (tokens, hidden), index pairs ``(s, g)`` and ``(s', j)``."""
    s, g = (torch.as_tensor(x) for x in zip(*positive))
    s2, j = (torch.as_tensor(x) for x in zip(*negative))
    pos = torch.sigmoid(F.cosine_similarity(h_chosen[s], h_chosen[g], dim=-1)).mean()
    neg = torch.sigmoid(F.cosine_similarity(h_chosen[s2], h_rejected[j], dim=-1)).mean()
    return beta * (-torch.log(pos) - torch.log1p(-neg))


class GoalConditionedRM(BradleyTerry):
    """Bradley-Terry on a causal LM plus the contrastive goal term (see the module docstring)."""

    name = "goal_conditioned"

    def __init__(
        self,
        backbone: Any = "tiny-random-llama",
        *,
        contrastive_loss_beta: float = 0.5,
        sim_samples: int = 16,
        unsim_samples: int = 16,
        **kwargs: Any,
    ) -> None:
        super().__init__(backbone, **kwargs)
        if not self.text:
            from rewardlab.errors import ConfigError

            raise ConfigError(
                f"reward {self.name!r}: the contrastive goal term needs a language-model backbone"
            )
        self.beta, self.sim_samples, self.unsim_samples = (
            float(contrastive_loss_beta),
            int(sim_samples),
            int(unsim_samples),
        )

    def hidden(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states (B, L, H) and the attention mask of ``texts``."""
        enc = self.net.encode(texts)
        mask = enc["attention_mask"]
        out = self.net.model.base_model(
            input_ids=enc["input_ids"],
            attention_mask=mask,
            position_ids=(mask.long().cumsum(1) - 1).clamp(min=0),
        )
        return out.last_hidden_state, mask

    def _positions(self, n: int, k: int, ordered: bool) -> list[tuple[int, int]]:
        a = torch.randint(0, n, (k,), generator=self.torch_gen)
        b = torch.randint(0, n, (k,), generator=self.torch_gen)
        if ordered:  # source before goal
            a, b = torch.minimum(a, b), torch.maximum(a, b)
        return list(zip(a.tolist(), b.tolist()))

    def _step(self, batch: Pairs) -> dict[str, torch.Tensor]:
        n = len(batch)
        hidden, mask = self.hidden([*batch.chosen, *batch.rejected])
        rewards = self.net.score_head(hidden[torch.arange(2 * n), last_token_index(mask)]).squeeze(-1)
        chosen, rejected = rewards[:n], rewards[n:]
        loss = bradley_terry_loss(
            chosen, rejected, center_rewards_coefficient=self.center_rewards_coefficient
        )
        goal_terms = []
        for i in range(n):
            hc, hr = hidden[i][mask[i].bool()], hidden[n + i][mask[n + i].bool()]
            positive = self._positions(len(hc), self.sim_samples, ordered=True)
            negative = list(
                zip(
                    self._positions(len(hc), self.unsim_samples, False),
                    self._positions(len(hr), self.unsim_samples, False),
                )
            )
            negative = [(s, j) for (s, _), (j, _) in negative]
            goal_terms.append(contrastive_goal_term(hc, hr, positive, negative, self.beta))
        goal = torch.stack(goal_terms).mean()
        total = loss + goal
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), float("inf"))
        self.optimizer.step()
        return {
            "loss": total.detach(), "bt_loss": loss.detach(), "goal_loss": goal.detach(),
            "accuracy": (chosen > rejected).float().mean().detach(), "margin": (chosen - rejected).mean().detach(),
            "grad_norm": grad_norm.detach(),
        }  # fmt: skip

    def q_value(self, prefixes: list[str], goals: list[str]) -> np.ndarray:
        """``Q(s, g) = cos(h(s), h(g))`` at each text's last real token."""
        self.net.eval()
        with torch.no_grad():
            hp, mp = self.hidden(prefixes)
            hg, mg = self.hidden(goals)
            a = hp[torch.arange(len(prefixes)), last_token_index(mp)]
            b = hg[torch.arange(len(goals)), last_token_index(mg)]
            return F.cosine_similarity(a, b, dim=-1).double().numpy()
