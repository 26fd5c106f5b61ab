"""A process reward model (TRL's ``PRMTrainer``, Lightman et al. 2023): one probability per reasoning step.

The completion is split into steps by ``step_separator``; the text ``prompt + step_1 + sep + ... +
step_n + sep`` goes through a causal LM once, and a linear head on the hidden state at each
separator token gives the logit that *that step* is correct (TRL labels the separator token of
each step and ignores the others). Trained with binary cross-entropy on per-step labels. The
sample's reward aggregates the steps' probabilities:

* ``"min"``: the weakest step (a chain is as good as its worst step; Lightman et al.'s choice),
* ``"product"``: the probability that every step is right, if they were independent,
* ``"last"``: the final step's probability (an outcome score read at the end).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardlab.core.state import OBJECT
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards.base import Reward, RewardResult, Sample, Scored, as_samples
from rewardlab.rewards.learned.base import Learnable, lm_backbone

AGGREGATIONS = ("min", "product", "last")


def aggregate_steps(step_probs: Sequence[float], how: str) -> float:
    """One score from per-step probabilities: their minimum, product or last value."""
    probs = np.asarray(step_probs, dtype=np.float64)
    if how not in AGGREGATIONS:
        raise ConfigError(f"process_reward: aggregation {how!r} is not one of {', '.join(AGGREGATIONS)}")
    if len(probs) == 0:
        return 0.0  # no step at all: nothing was shown right
    return float({"min": probs.min, "product": probs.prod, "last": lambda: probs[-1]}[how]())


class ProcessReward(Learnable, Reward):
    """Per-step correctness from a causal LM and a linear head at the step separators."""

    name = "process_reward"
    minimum, maximum = 0.0, 1.0
    state_fields = {"model": OBJECT, "head": OBJECT, "optimizer": OBJECT}

    def __init__(
        self,
        backbone: Any = "tiny-random-llama",
        *,
        step_separator: str = "\n",
        aggregation: str = "min",
        learning_rate: float = 1e-3,
        batch_size: int = 16,
        seed: int = 0,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        Reward.__init__(self, name=name, on_error=on_error)
        self.init_generators(seed)
        if aggregation not in AGGREGATIONS:
            raise ConfigError(
                f"reward {self.name!r}: aggregation {aggregation!r} is not one of {', '.join(AGGREGATIONS)}"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model, self.tokenizer = lm_backbone(backbone, self.seed, self.name)
            self.head = nn.Linear(self.model.config.hidden_size, 1)
        sep = self.tokenizer(step_separator, add_special_tokens=False)["input_ids"]
        if len(sep) != 1:
            raise ConfigError(
                f"reward {self.name!r}: step_separator {step_separator!r} must be one token, it is {len(sep)}"
            )
        self.separator, self.separator_id = step_separator, sep[0]
        self.aggregation, self.batch_size = aggregation, int(batch_size)
        self.optimizer = torch.optim.AdamW(
            [*self.model.parameters(), *self.head.parameters()], lr=learning_rate
        )

    def steps_of(self, completion: str) -> list[str]:
        return [s for s in completion.split(self.separator) if s.strip()]

    def step_logits(self, prompts: list[str], steps: list[list[str]]) -> list[torch.Tensor]:
        """For each sample, the logits (n_steps,) read at its separator tokens."""
        texts = [p + "".join(s + self.separator for s in st) for p, st in zip(prompts, steps)]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        mask = enc["attention_mask"]
        hidden = self.model.base_model(
            input_ids=enc["input_ids"], attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0)
        ).last_hidden_state
        logits = self.head(hidden).squeeze(-1)  # (B, L)
        at_sep = (enc["input_ids"] == self.separator_id) & mask.bool()
        out = []
        for i, st in enumerate(steps):
            # the prompt may hold separators too: a sample's steps are its last len(st) separators
            positions = at_sep[i].nonzero().squeeze(-1)[-len(st) :] if st else at_sep[i].nonzero()[:0, 0]
            out.append(logits[i, positions])
        return out

    def step_probabilities(self, samples: Sequence[Sample]) -> list[np.ndarray]:
        self.model.eval()
        out: list[np.ndarray] = []
        with torch.no_grad():
            for i in range(0, len(samples), self.batch_size):
                chunk = samples[i : i + self.batch_size]
                prompts = [s.prompt if isinstance(s.prompt, str) else "" for s in chunk]
                logits = self.step_logits(prompts, [self.steps_of(s.completion) for s in chunk])
                out.extend(torch.sigmoid(x).double().numpy() for x in logits)
        return out

    def update(self, batch: Sequence[tuple[str, list[str], list[int]]]) -> dict[str, float]:
        """One BCE step on ``(prompt, steps, labels)`` examples (labels 1 = the step is right)."""
        self.model.train()
        idx = self.np_rng.integers(len(batch), size=min(self.batch_size, len(batch)))
        chosen = [batch[i] for i in idx]
        for prompt, steps, labels in chosen:
            if len(steps) != len(labels):
                raise RewardlabError(
                    f"reward {self.name!r}: {len(steps)} steps but {len(labels)} labels for {prompt!r}"
                )
        logits = torch.cat(self.step_logits([c[0] for c in chosen], [c[1] for c in chosen]))
        labels = torch.as_tensor([y for c in chosen for y in c[2]], dtype=torch.float32)
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        return {
            "loss": float(loss.detach()),
            "step_accuracy": float(((logits > 0) == labels.bool()).float().mean()),
        }

    def fit(self, data: Sequence[tuple[str, list[str], list[int]]], steps: int = 100) -> dict[str, float]:
        if not data:
            raise RewardlabError(f"reward {self.name!r}: no labelled examples to fit")
        metrics: dict[str, float] = {}
        for _ in range(steps):
            metrics = self.update(data)
        return metrics

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        probs = self.step_probabilities(samples) if samples else []
        scored = []
        for i, (s, p) in enumerate(zip(samples, probs)):
            value = aggregate_steps(p, self.aggregation)
            checked = self.check_value(i, s, value if math.isfinite(value) else float("nan"))
            scored.append(checked if isinstance(checked, Scored) else Scored(checked))
        return self.assemble(samples, scored)
