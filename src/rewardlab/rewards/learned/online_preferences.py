"""A Bradley-Terry reward model that keeps learning during GRPO from fresh labelled samples (online RLHF:
Christiano et al. 2017's loop, where the reward model is re-fitted on comparisons of the policy's
current samples, so it follows the policy into the regions it now visits).

Every generation batch, a *labeller* (any rewardlab reward: a rule standing in for the human or AI
annotator) scores the G completions of each prompt; within a group, every two completions whose
labels differ give one preference pair (the higher-labelled one chosen). The newest pairs join a
bounded buffer (the oldest leave first); the reward model then takes ``updates_per_step``
optimizer steps on minibatches drawn from the buffer with its own generator.

Everything a later step reads is declared state, so a killed GRPO run resumes bit for bit: the
reward model's weights, its optimizer, its generators and update count (all inside ``model``), the
buffer, and the count of pairs seen.

Whether the batch is scored before or after the reward model trains on it is the GRPO config's
``reward_update_order`` (rule 4 of :mod:`rewardlab.rewards.learned.base`); ``"after_score"``, the
default, scores with the model that has not yet seen these completions' labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.core.state import OBJECT, VALUE, Stateful
from rewardlab.errors import ConfigError
from rewardlab.rewards.learned.bradley_terry import BradleyTerry, Pairs


def group_preference_pairs(
    texts: Sequence[str], labels: Sequence[float], group_size: int
) -> tuple[list[str], list[str]]:
    """``(chosen, rejected)``: within each consecutive group of ``group_size`` texts, every pair
    ``i < j`` whose labels differ, the higher-labelled text chosen. Ties say nothing and give no pair."""
    chosen, rejected = [], []
    for start in range(0, len(texts), group_size):
        for i in range(start, min(start + group_size, len(texts))):
            for j in range(i + 1, min(start + group_size, len(texts))):
                if labels[i] > labels[j]:
                    chosen.append(texts[i]), rejected.append(texts[j])
                elif labels[j] > labels[i]:
                    chosen.append(texts[j]), rejected.append(texts[i])
    return chosen, rejected


class OnlinePreferences(Stateful):
    """The online half of a reward model inside GRPO (see the module docstring)."""

    state_fields = {"model": OBJECT, "chosen": VALUE, "rejected": VALUE, "pairs_seen": VALUE}

    def __init__(
        self,
        model: Any,
        labeller: Any,
        *,
        updates_per_step: int = 1,
        buffer_size: int = 1024,
        pairs_per_step: int = 0,
    ) -> None:
        if not isinstance(model, BradleyTerry) or not model.text:
            raise ConfigError(
                f"reward_labeller: the reward {getattr(model, 'name', model)!r} cannot learn online; it must be "
                "a text Bradley-Terry reward model (a `rewardlab train reward-model` run directory or a "
                "directory written by BradleyTerry.save)"
            )
        for key, value, least in (("reward_updates_per_step", updates_per_step, 1),
                                  ("reward_buffer_size", buffer_size, 1), ("reward_pairs_per_step", pairs_per_step, 0)):  # fmt: skip
            if value < least:
                raise ConfigError(f"{key} must be >= {least}, got {value}")
        self.model, self.labeller = model, labeller
        self.updates_per_step, self.buffer_size, self.pairs_per_step = (
            updates_per_step,
            buffer_size,
            pairs_per_step,
        )
        self.chosen: list[str] = []
        self.rejected: list[str] = []
        self.pairs_seen = 0

    def observe(self, samples: Sequence[Any], group_size: int) -> dict[str, float]:
        """Label ``samples`` (G consecutive completions per prompt), add their pairs to the buffer and
        train the reward model on it; returns ``reward_model/*`` metrics."""
        from rewardlab.llm.base import score

        labels = np.asarray(score(self.labeller, list(samples)).total, dtype=np.float64)
        texts = self.model._inputs(list(samples))
        chosen, rejected = group_preference_pairs(texts, labels, group_size)
        if self.pairs_per_step and len(chosen) > self.pairs_per_step:  # a labelling budget per step
            keep = np.sort(self.model.np_rng.choice(len(chosen), self.pairs_per_step, replace=False))
            chosen, rejected = [chosen[i] for i in keep], [rejected[i] for i in keep]
        self.pairs_seen += len(chosen)
        self.chosen = (self.chosen + chosen)[-self.buffer_size :]
        self.rejected = (self.rejected + rejected)[-self.buffer_size :]
        metrics = {
            "reward_model/new_pairs": float(len(chosen)),
            "reward_model/buffer": float(len(self.chosen)),
        }
        if not self.chosen:
            return metrics  # nothing labelled apart yet: every group tied
        rows = []
        for _ in range(self.updates_per_step):
            idx = self.model.np_rng.integers(
                len(self.chosen), size=min(self.model.batch_size, len(self.chosen))
            )
            rows.append(
                self.model.update(Pairs([self.chosen[i] for i in idx], [self.rejected[i] for i in idx]))
            )
        metrics.update({f"reward_model/{k}": float(np.mean([r[k] for r in rows])) for k in rows[0]})
        metrics["reward_model/updates"] = float(self.model.updates)
        return metrics
