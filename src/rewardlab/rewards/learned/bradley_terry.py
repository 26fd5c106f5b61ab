"""Bradley-Terry reward models: a scalar ``r(x)`` trained so that ``P(chosen > rejected) = sigmoid(r+ - r-)``.

The loss is TRL's ``RewardTrainer.compute_loss`` (TRL 1.16, ``trl/trainer/reward_trainer.py``):
``-mean log sigmoid(r+ - r- - margin)``, plus ``center_rewards_coefficient * mean((r+ + r-)^2)``
when set (Eisenstein et al. 2023, "Helping or Herding?", arXiv 2312.09244, Eq. 2), which keeps
the rewards centred on zero. ``tests/rewards/test_bradley_terry.py`` checks it against TRL's own
method on the same tensors.

Two backbones:

* ``"mlp"``: an MLP on feature vectors (a sample's ``info["features"]``), for tests and the
  synthetic preference set of :mod:`rewardlab.rewards.learned.synthetic`;
* a causal LM (``"tiny-random-llama"``, ``"smollm2-135m-instruct"`` or a ``(model, tokenizer)``
  pair) with a linear score head on the hidden state of the **last non-padding token** of
  ``prompt + completion``, as TRL's ``AutoModelForSequenceClassification`` and OpenRLHF read it.
  The index is computed from the attention mask, so left and right padding give the same score.
  ``lora_r > 0`` freezes the LM and trains a LoRA adapter plus the head (ARMAP's and OpenRLHF's
  recipe for a pretrained backbone); then only those tensors are state and are exported.

``fit(pairs)`` trains with AdamW on minibatches drawn from the model's own generator, evaluates
held-out pairwise accuracy after every epoch and keeps the best epoch's weights (early stopping,
the fix for the RM over-fitting users report: trlx #338, DeepSpeedExamples #322). Scoring is
``torch.no_grad`` in eval mode and changes nothing.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rewardlab.core.io import write_text_atomic
from rewardlab.core.state import OBJECT, VALUE
from rewardlab.errors import RewardlabError
from rewardlab.rewards.base import Reward, RewardResult, Sample, Scored, as_samples
from rewardlab.rewards.learned.base import Learnable, lm_backbone, with_lora

# LoRA on every linear layer of a Llama block, as the LM policies' default (rewardlab.llm.policy.PolicyConfig)
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def bradley_terry_loss(
    rewards_chosen: torch.Tensor,
    rewards_rejected: torch.Tensor,
    *,
    margin: torch.Tensor | float | None = None,
    center_rewards_coefficient: float | None = None,
) -> torch.Tensor:
    """The pairwise reward-model loss of TRL's RewardTrainer, a scalar.

    ``-mean(log sigmoid(r+ - r- - margin))`` (margin 0 when None) ``+ c * mean((r+ + r-)^2)``
    when ``center_rewards_coefficient`` c is given."""
    diff = rewards_chosen - rewards_rejected
    if margin is not None:
        diff = diff - margin
    loss = -F.logsigmoid(diff).mean()
    if center_rewards_coefficient is not None:
        loss = loss + center_rewards_coefficient * torch.mean((rewards_chosen + rewards_rejected) ** 2)
    return loss


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last non-padding token of each row, whichever side the padding is on:
    ``L - 1 - argmax(flip(mask))`` (OpenRLHF's ``eos_indices``)."""
    length = attention_mask.shape[1]
    return length - 1 - attention_mask.long().flip(1).argmax(1)


class FeatureMLP(nn.Module):
    """Reward MLP on feature vectors: (B, in_dim) -> (B,)."""

    def __init__(self, in_dim: int, hidden_sizes: Sequence[int] = (64, 64)):
        super().__init__()
        dims = [in_dim, *hidden_sizes]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class LMScorer(nn.Module):
    """A causal LM's last hidden state at the last non-padding token, through a linear score head.

    With a LoRA-wrapped LM (``lora`` True) only the adapter and the head train, and ``state_dict`` /
    ``load_state_dict`` hold just those tensors: the frozen backbone comes back from its name, so a
    checkpoint or an exported reward model of SmolLM2-135M is a few MB, not the 540 MB of its weights."""

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 512, lora: bool = False):
        super().__init__()
        self.model, self.tokenizer, self.max_length, self.lora = model, tokenizer, max_length, lora
        hidden = model.config.hidden_size
        self.score_head = nn.Linear(hidden, 1, bias=False)
        nn.init.normal_(self.score_head.weight, std=1.0 / math.sqrt(hidden + 1))  # OpenRLHF's value-head init

    def encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # position ids count real tokens only, so a left-padded row sees the positions a right-padded one does
        position_ids = (attention_mask.long().cumsum(1) - 1).clamp(min=0)
        # the decoder without its LM head (PEFT's wrapper holds the causal LM one level further down)
        causal_lm = self.model.get_base_model() if self.lora else self.model
        hidden = causal_lm.base_model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        ).last_hidden_state  # (B, L, H), without the LM head
        last = hidden[torch.arange(len(hidden)), last_token_index(attention_mask)]
        return self.score_head(last).squeeze(-1)

    def trained_names(self, prefix: str = "") -> list[str]:
        return [prefix + n for n, p in self.named_parameters() if p.requires_grad]

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        full = super().state_dict(*args, **kwargs)
        if not self.lora:
            return full
        keep = set(self.trained_names(kwargs.get("prefix", "")))
        for key in [k for k in full if k not in keep]:
            del full[key]
        return full

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        if not self.lora:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        expected = set(self.trained_names())
        missing, unexpected = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
        if strict and (missing or unexpected):
            raise RuntimeError(
                "Error(s) in loading the LoRA adapter and score head:\n"
                f"\tMissing key(s): {missing[:3]}{' ...' if len(missing) > 3 else ''}; "
                f"unexpected key(s): {unexpected[:3]}{' ...' if len(unexpected) > 3 else ''}"
            )
        return super().load_state_dict(state_dict, strict=False, assign=assign)


@dataclass
class Pairs:
    """Preference pairs: ``chosen[i]`` preferred to ``rejected[i]``; items are feature rows or texts."""

    chosen: Any
    rejected: Any
    margin: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.chosen)

    def take(self, idx: np.ndarray) -> Pairs:
        pick = lambda x: x[idx] if isinstance(x, np.ndarray) else [x[i] for i in idx]  # noqa: E731
        return Pairs(
            pick(self.chosen), pick(self.rejected), None if self.margin is None else self.margin[idx]
        )


class BradleyTerry(Learnable, Reward):
    """A Bradley-Terry reward model (see the module docstring); a text ``Reward`` once fitted."""

    name = "bradley_terry"
    minimum, maximum = -math.inf, math.inf
    state_fields = {"net": OBJECT, "optimizer": OBJECT, "best_epoch": VALUE, "history": VALUE}

    def __init__(
        self,
        backbone: Any = "mlp",
        *,
        in_dim: int = 16,
        hidden_sizes: tuple[int, ...] = (64, 64),
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-2,
        batch_size: int = 64,
        epochs: int = 10,
        center_rewards_coefficient: float | None = 0.01,
        early_stopping: bool = True,
        val_fraction: float = 0.2,
        max_length: int = 512,
        lora_r: int = 0,
        lora_alpha: int = 32,
        lora_target_modules: Sequence[str] = LORA_TARGETS,
        seed: int = 0,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        Reward.__init__(self, name=name, on_error=on_error)
        self.init_generators(seed)
        # what save() writes so load() rebuilds the same network (a custom (model, tokenizer) is not)
        self.spec = {"backbone": backbone if isinstance(backbone, str) else None, "in_dim": in_dim,
                     "hidden_sizes": list(hidden_sizes), "max_length": max_length, "name": name,
                     "lora_r": lora_r, "lora_alpha": lora_alpha,
                     "lora_target_modules": list(lora_target_modules)}  # fmt: skip
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if backbone == "mlp":
                self.net: nn.Module = FeatureMLP(in_dim, hidden_sizes)
            else:
                valid = (
                    "one of 'mlp', 'tiny-random-llama', 'smollm2-135m-instruct' or a (model, tokenizer) pair"
                )
                model, tokenizer = lm_backbone(backbone, self.seed, self.name, valid)
                model = with_lora(model, lora_r, lora_alpha, lora_target_modules, self.seed)
                self.net = LMScorer(model, tokenizer, max_length=max_length, lora=lora_r > 0)
        self.text = isinstance(self.net, LMScorer)
        trained = [p for p in self.net.parameters() if p.requires_grad]  # LoRA: the adapter and the head
        self.optimizer = torch.optim.AdamW(trained, lr=learning_rate, weight_decay=weight_decay)
        self.batch_size, self.epochs = int(batch_size), int(epochs)
        self.center_rewards_coefficient = center_rewards_coefficient
        self.early_stopping, self.val_fraction = early_stopping, float(val_fraction)
        self.best_epoch = -1
        self.history: list[dict[str, float]] = []

    # ---- the model on raw inputs ---------------------------------------------------------------
    def _forward(self, items: Any) -> torch.Tensor:
        if self.text:
            return self.net(**self.net.encode(list(items)))
        return self.net(torch.as_tensor(np.asarray(items), dtype=torch.float32))

    def rewards(self, items: Any, batch_size: int = 256) -> np.ndarray:
        """Scores of feature rows or texts, float64; inference only (eval mode, no grad)."""
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.no_grad():
                out = [self._forward(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
        finally:
            self.net.train(was_training)
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    def pairwise_accuracy(self, pairs: Pairs) -> float:
        return float(np.mean(self.rewards(pairs.chosen) > self.rewards(pairs.rejected)))

    # ---- training ------------------------------------------------------------------------------
    def _step(self, batch: Pairs) -> dict[str, torch.Tensor]:
        n = len(batch)
        both = (
            np.concatenate([batch.chosen, batch.rejected])
            if not self.text
            else [*batch.chosen, *batch.rejected]
        )
        rewards = self._forward(both)  # one forward over chosen then rejected, as TRL's collator
        chosen, rejected = rewards[:n], rewards[n:]
        margin = None if batch.margin is None else torch.as_tensor(batch.margin, dtype=rewards.dtype)
        loss = bradley_terry_loss(
            chosen, rejected, margin=margin, center_rewards_coefficient=self.center_rewards_coefficient
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.optimizer.param_groups[0]["params"], float("inf"))
        self.optimizer.step()
        return {
            "loss": loss.detach(),
            "accuracy": (chosen > rejected).float().mean().detach(),
            "margin": (chosen - rejected).mean().detach(),
            "grad_norm": grad_norm.detach(),
        }

    def update(self, batch: Pairs) -> dict[str, float]:
        """One optimizer step on a batch of pairs (online reward learning)."""
        self.net.train()
        metrics = {k: float(v) for k, v in self._step(batch).items()}
        self.updates += 1
        return metrics

    def train_epoch(self, data: Pairs) -> dict[str, float]:
        """One pass over ``data`` in an order drawn from the model's own generator; the mean of the
        steps' metrics plus ``train/accuracy`` on all of ``data`` after the pass."""
        self.net.train()
        perm = torch.randperm(len(data), generator=self.torch_gen).numpy()
        steps = [
            self._step(data.take(perm[i : i + self.batch_size])) for i in range(0, len(data), self.batch_size)
        ]
        self.updates += len(steps)
        row = {k: float(torch.stack([s[k] for s in steps]).mean()) for k in steps[0]}
        return {**row, "train/accuracy": self.pairwise_accuracy(data)}

    def split(self, data: Pairs) -> tuple[Pairs, Pairs]:
        """``(train, held-out)``: a ``val_fraction`` share of ``data`` drawn with the model's numpy generator."""
        perm = self.np_rng.permutation(len(data))
        n_val = max(1, int(round(self.val_fraction * len(data))))
        if n_val >= len(data):
            raise RewardlabError(
                f"reward {self.name!r}: {len(data)} preference pair(s) leave none for training after holding "
                f"out val_fraction {self.val_fraction}; give more pairs, separate held-out pairs, or no early stopping"
            )
        return data.take(perm[n_val:]), data.take(perm[:n_val])

    def fit(self, data: Pairs, val: Pairs | None = None) -> dict[str, float]:
        """Train for ``epochs`` epochs; with ``early_stopping`` keep the epoch with the best held-out
        pairwise accuracy (on ``val``, or a ``val_fraction`` split of ``data``). Every epoch's metrics
        go to ``self.history`` (``train/accuracy``, ``eval/accuracy``, ``loss``, ``margin``,
        ``grad_norm``); the returned dict is the kept epoch's."""
        if len(data) == 0:
            raise RewardlabError(f"reward {self.name!r}: no preference pairs to fit")
        if val is None and self.early_stopping:
            data, val = self.split(data)
        best_acc, best_state = -1.0, None
        for epoch in range(self.epochs):
            row = {"epoch": float(epoch), **self.train_epoch(data)}
            if val is not None:
                row["eval/accuracy"] = self.pairwise_accuracy(val)
            self.history.append(row)
            if self.early_stopping and row["eval/accuracy"] > best_acc:
                best_acc, best_state, self.best_epoch = (
                    row["eval/accuracy"],
                    copy.deepcopy(self.net.state_dict()),
                    epoch,
                )
        if self.early_stopping and best_state is not None:
            self.net.load_state_dict(best_state)
            return self.history[self.best_epoch]
        self.best_epoch = self.epochs - 1
        return self.history[-1]

    # ---- export ---------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write the fitted model as ``reward_model.json`` (how to rebuild it) and ``reward_model.pt``
        (its weights); :meth:`load` reads them without the run that trained it."""
        if self.spec["backbone"] is None:
            raise RewardlabError(
                f"reward {self.name!r}: a custom (model, tokenizer) backbone cannot be saved by name"
            )
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(directory / "reward_model.json", json.dumps({"format": 1, **self.spec}, indent=1))
        torch.save(self.net.state_dict(), directory / "reward_model.pt")
        return directory

    @classmethod
    def load(cls, directory: str | Path, **overrides: Any) -> BradleyTerry:
        directory = Path(directory)
        spec_path, weights = directory / "reward_model.json", directory / "reward_model.pt"
        if not spec_path.is_file() or not weights.is_file():
            raise RewardlabError(
                f"reward model directory {str(directory)!r} does not hold reward_model.json and reward_model.pt "
                "(written by BradleyTerry.save)"
            )
        spec = json.loads(spec_path.read_text())
        spec.pop("format", None)
        built = {**spec, **overrides}
        rm = cls(**built)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        try:
            rm.net.load_state_dict(state)
        except RuntimeError as e:
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            detail = next((line for line in lines[1:]), lines[0] if lines else "")
            shape = (
                f"in_dim {built['in_dim']}, hidden_sizes {list(built['hidden_sizes'])}"
                if built["backbone"] == "mlp"
                else f"lora_r {built.get('lora_r', 0)}"
            )
            raise RewardlabError(
                f"reward model {str(directory)!r}: its weights do not fit a {built['backbone']!r} backbone with "
                f"{shape} ({detail})"
            ) from None
        rm.net.eval()
        return rm

    # ---- the Reward side -----------------------------------------------------------------------
    def _inputs(self, samples: list[Sample]) -> Any:
        if self.text:
            return [(s.prompt if isinstance(s.prompt, str) else "") + s.completion for s in samples]
        try:
            return np.stack([np.asarray(s.info["features"], dtype=np.float32) for s in samples])
        except KeyError:
            i = next(i for i, s in enumerate(samples) if "features" not in s.info)
            raise RewardlabError(
                f"reward {self.name!r} (MLP backbone) scores info['features'] of a sample; sample {i} has none"
            ) from None

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        values = self.rewards(self._inputs(samples)) if samples else np.zeros(0)
        scored = []
        for i, (s, v) in enumerate(zip(samples, values)):
            checked = self.check_value(i, s, v)  # a NaN from diverged weights is an error naming the reward
            scored.append(checked if isinstance(checked, Scored) else Scored(checked))
        return self.assemble(samples, scored)
