"""A generative yes/no judge (UI-Genie's reward model, arXiv 2505.21496): the reward is P("yes").

The judge is a causal LM asked a fixed question after the sample, ``{prompt}{completion}{question}``;
its reward is the probability of the ``yes`` token at the next position, from the full softmax
of the next-token logits. Training is UI-Genie's binary next-token cross-entropy: the target
token is ``yes`` for a positive sample and ``no`` for a negative one
(``L = -sum log P(yes | positive) - sum log P(no | negative)``).

UI-Genie builds its negatives from positives with rules; the three it names for GUI agents are
plain functions here, on rewardlab's GUI action dicts (``{"action": type, "x", "y", ...}``):
:func:`wrong_action_type`, :func:`wrong_click` (a point outside the target box) and
:func:`truncated_trajectory` (the episode cut before its end).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rewardlab.core.state import OBJECT
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards.base import Reward, RewardResult, Sample, Scored, as_samples
from rewardlab.rewards.learned.base import Learnable, lm_backbone


def judge_loss(logits: torch.Tensor, labels: torch.Tensor, yes_id: int, no_id: int) -> torch.Tensor:
    """Mean next-token cross-entropy of ``yes`` (label 1) or ``no`` (label 0); logits (B, vocab)."""
    targets = torch.where(
        labels.bool(), torch.full_like(labels, yes_id), torch.full_like(labels, no_id)
    ).long()
    return F.cross_entropy(logits, targets)


class Judge(Learnable, Reward):
    """P("yes") of a causal LM under a fixed question (see the module docstring)."""

    name = "judge"
    minimum, maximum = 0.0, 1.0
    state_fields = {"model": OBJECT, "optimizer": OBJECT}

    def __init__(
        self,
        backbone: Any = "tiny-random-llama",
        *,
        question: str = "\nCorrect? ",
        yes: str = "y",
        no: str = "n",
        learning_rate: float = 1e-3,
        batch_size: int = 32,
        seed: int = 0,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        Reward.__init__(self, name=name, on_error=on_error)
        self.init_generators(seed)
        self.model, self.tokenizer = lm_backbone(backbone, self.seed, self.name)
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in (yes, no)]
        if not all(ids) or ids[0][0] == ids[1][0]:
            raise ConfigError(
                f"reward {self.name!r}: yes {yes!r} and no {no!r} must start with different tokens"
            )
        self.yes_id, self.no_id = ids[0][0], ids[1][0]
        self.question, self.batch_size = question, int(batch_size)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=learning_rate)

    def texts(self, samples: Sequence[Sample]) -> list[str]:
        return [
            (s.prompt if isinstance(s.prompt, str) else "") + s.completion + self.question for s in samples
        ]

    def next_token_logits(self, texts: list[str]) -> torch.Tensor:
        """(B, vocab) logits after each text; left padding, so the last position is the next token's."""
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        mask = enc["attention_mask"]
        out = self.model(
            input_ids=enc["input_ids"], attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0)
        )
        return out.logits[:, -1, :].float()

    def p_yes(self, samples: Sequence[Sample]) -> np.ndarray:
        self.model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(samples), self.batch_size):
                logits = self.next_token_logits(self.texts(samples[i : i + self.batch_size]))
                out.append(torch.softmax(logits, -1)[:, self.yes_id])
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def update(self, batch: tuple[Sequence[Sample], Sequence[int]]) -> dict[str, float]:
        """One step of the yes/no cross-entropy on ``(samples, labels)`` (1 = positive)."""
        samples, labels = batch
        self.model.train()
        idx = self.np_rng.integers(len(samples), size=min(self.batch_size, len(samples)))
        logits = self.next_token_logits(self.texts([samples[i] for i in idx]))
        y = torch.as_tensor(np.asarray(labels)[idx])
        loss = judge_loss(logits, y, self.yes_id, self.no_id)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        said_yes = logits[:, self.yes_id] > logits[:, self.no_id]
        return {"loss": float(loss.detach()), "accuracy": float((said_yes == y.bool()).float().mean())}

    def fit(self, data: tuple[Sequence[Sample], Sequence[int]], steps: int = 100) -> dict[str, float]:
        if len(data[0]) == 0 or len(data[0]) != len(data[1]):
            raise RewardlabError(
                f"reward {self.name!r}: fit needs equally many samples and labels, got {len(data[0])} and {len(data[1])}"
            )
        metrics: dict[str, float] = {}
        for _ in range(steps):
            metrics = self.update(data)
        return metrics

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        values = self.p_yes(samples)
        scored = []
        for i, (s, v) in enumerate(zip(samples, values)):
            checked = self.check_value(i, s, float(v))
            scored.append(checked if isinstance(checked, Scored) else Scored(checked))
        return self.assemble(samples, scored)


# ---- step-level evaluation ------------------------------------------------------------------------


def step_prefixes(prompt: str, steps: Sequence[str], separator: str = "\n") -> list[Sample]:
    """One sample per step: the trajectory up to and including that step, as the judge scores it at
    step level (UI-Genie asks about each step's action given the history before it)."""
    return [
        Sample(prompt=prompt, completion="".join(s + separator for s in steps[: t + 1]))
        for t in range(len(steps))
    ]


def step_f1(scores: Sequence[float], labels: Sequence[int], threshold: float = 0.5) -> dict[str, float]:
    """Precision, recall and F1 of the judge's step labels (``score > threshold`` says "this step is
    right") against the true labels (1 = right), the step-level F1 UI-Genie reports (79.6 for its 7B
    judge). The positive class is the right step; F1 is 0 when nothing is predicted or true positive."""
    predicted = np.asarray(scores, dtype=np.float64) > threshold
    truth = np.asarray(labels).astype(bool)
    if predicted.shape != truth.shape:
        raise RewardlabError(f"step_f1: {predicted.size} scores but {truth.size} labels")
    tp = float(np.sum(predicted & truth))
    precision = tp / predicted.sum() if predicted.any() else 0.0
    recall = tp / truth.sum() if truth.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


# ---- UI-Genie's hard negatives, as plain functions ------------------------------------------------


def wrong_action_type(
    action: dict[str, Any], types: Sequence[str], rng: np.random.Generator
) -> dict[str, Any]:
    """The same action with another type (a click becomes a scroll)."""
    others = [t for t in types if t != action.get("action")]
    if not others:
        raise RewardlabError(
            f"wrong_action_type: no action type other than {action.get('action')!r} in {list(types)}"
        )
    return {**action, "action": others[int(rng.integers(len(others)))]}


def wrong_click(
    action: dict[str, Any], box: Sequence[float], size: tuple[float, float], rng: np.random.Generator
) -> dict[str, Any]:
    """The same click at a uniformly drawn point of the ``size`` (width, height) screen outside ``box``
    ``(x1, y1, x2, y2)``."""
    x1, y1, x2, y2 = box
    if x1 <= 0 and y1 <= 0 and x2 >= size[0] and y2 >= size[1]:
        raise RewardlabError(f"wrong_click: the box {list(box)} covers the whole {size} screen")
    while True:
        x, y = rng.uniform(0, size[0]), rng.uniform(0, size[1])
        if not (x1 <= x <= x2 and y1 <= y <= y2):
            return {**action, "x": float(x), "y": float(y)}


def truncated_trajectory(steps: Sequence[Any], rng: np.random.Generator) -> list[Any]:
    """The episode cut before its end: a strict, non-empty prefix (UI-Genie's early truncation)."""
    if len(steps) < 2:
        raise RewardlabError(f"truncated_trajectory: {len(steps)} step(s) leave no strict non-empty prefix")
    return list(steps[: int(rng.integers(1, len(steps)))])
