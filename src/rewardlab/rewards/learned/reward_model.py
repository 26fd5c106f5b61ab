"""``rewardlab train reward-model``: fit a Bradley-Terry text reward model inside a Run, and load a
trained one by path wherever a reward name is accepted.

One iteration is one epoch over the training pairs (``total_steps`` = epochs), so the Run gives the
reward model what it gives every algorithm: ``config.toml``, ``metrics.jsonl`` (loss, pairwise
accuracy on the training and held-out pairs, margin, grad norm), checkpoints, bit-identical resume
and the NaN guard. The held-out pairs are ``eval_data`` or a ``val_fraction`` split of ``data``;
the epoch with the best held-out accuracy is kept (early stopping), and that is the model a path
to the run loads.

A trained reward model is found by path (:func:`load_reward_model`):

* a **run directory** of ``reward-model``: the backbone named in its ``config.toml`` with the kept
  weights of its newest intact checkpoint (read directly; the training code is not rebuilt and
  the preference file need not exist any more);
* a **directory written by** :meth:`BradleyTerry.save` (``reward_model.json`` + ``reward_model.pt``).

So ``reward = "runs/rm"`` in a GRPO / RLOO config, ``--set reward=runs/rm``,
``rewardlab reward score runs/rm --input samples.jsonl`` and ``rewardlab eval RUN --best-of 8
--reward runs/rm`` all take it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rewardlab.config import RunConfig, bounds
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import OBJECT, VALUE
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards.learned.bradley_terry import LORA_TARGETS, BradleyTerry
from rewardlab.rewards.learned.preferences import read_preference_pairs

ALGO_NAME = "reward-model"
TEXT_BACKBONES = ("tiny-random-llama", "smollm2-135m-instruct")


@dataclass
class RewardModelConfig(RunConfig):
    """A Bradley-Terry reward model on preference pairs. Defaults: TRL 1.16 ``RewardConfig`` where it
    has the key (``center_rewards_coefficient`` as TRL's docs recommend), else noted."""

    data: str = ""  # JSONL of {"prompt"?, "chosen", "rejected", "margin"?} (TRL's preference format)
    eval_data: str = ""  # held-out pairs; "" = a val_fraction split of `data`
    backbone: str = "tiny-random-llama"  # a causal LM with a linear score head on the last real token
    # LoRA on the backbone (0 = train every weight, the tiny random LM's default); a pretrained
    # backbone (smollm2-135m-instruct) keeps its weights frozen and trains the adapter and the head
    lora_r: int = field(default=0, metadata=bounds(ge=0))
    lora_alpha: int = 32
    lora_target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    total_steps: int = field(default=10, metadata=bounds(ge=1))  # epochs
    learning_rate: float = 1e-3  # TRL: 1e-4 for billion-parameter LMs; the tiny random LM needs more
    weight_decay: float = 0.01
    batch_size: int = field(default=16, metadata=bounds(ge=1))  # pairs per optimizer step
    center_rewards_coefficient: float = 0.01  # 0 = off (TRL: None)
    val_fraction: float = field(default=0.2, metadata=bounds(gt=0, lt=1))
    max_length: int = field(default=512, metadata=bounds(ge=1))  # tokens of prompt + completion
    eval_episodes: int = 1  # unused: evaluation scores every held-out pair

    def validate(self) -> None:
        if not self.data:
            raise ConfigError(
                'reward-model needs preference pairs: set data = "pairs.jsonl" ({prompt, chosen, rejected} per line)'
            )
        if self.backbone not in TEXT_BACKBONES:
            raise ConfigError(
                f"config key 'backbone': {self.backbone!r} is not a text reward-model backbone; valid: "
                f"{', '.join(TEXT_BACKBONES)}"
            )


class RewardModelTraining(Algorithm):
    """Bradley-Terry reward-model training, one epoch per step (see the module docstring)."""

    config_class = RewardModelConfig
    summary = "Bradley-Terry reward model (TRL's loss) on JSONL preference pairs; usable by path as a reward"
    curve_metric = "eval/accuracy"
    config: RewardModelConfig
    state_fields = {"model": OBJECT, "best_weights": VALUE, "best_accuracy": VALUE, "best_epoch": VALUE}
    rebuilt_fields = ("train_pairs", "val_pairs")

    def __init__(self, config: RewardModelConfig) -> None:
        super().__init__(config)
        config.validate()
        self.model = build_model(config)
        pairs = read_preference_pairs(config.data)
        if config.eval_data:
            self.train_pairs, self.val_pairs = pairs, read_preference_pairs(config.eval_data)
        else:
            self.train_pairs, self.val_pairs = self.model.split(
                pairs
            )  # the model's generator: same split on resume
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.best_accuracy = -1.0
        self.best_epoch = -1

    def step(self) -> dict[str, float]:
        row = self.model.train_epoch(self.train_pairs)
        row["eval/accuracy"] = self.model.pairwise_accuracy(self.val_pairs)
        # the train-minus-held-out gap is how over-fitting shows (trlx #338, DeepSpeedExamples #322)
        row["accuracy_gap"] = row["train/accuracy"] - row["eval/accuracy"]
        if row["eval/accuracy"] > self.best_accuracy:
            self.best_accuracy, self.best_epoch = row["eval/accuracy"], self.global_step
            self.best_weights = copy.deepcopy(self.model.net.state_dict())
        self.global_step += 1
        row["best_epoch"] = float(self.best_epoch)
        return row

    def evaluate(self, episodes: int) -> dict[str, Any]:
        """Pairwise accuracy of the kept (best) weights on the held-out pairs."""
        with self.kept_weights() as rm:
            chosen, rejected = rm.rewards(self.val_pairs.chosen), rm.rewards(self.val_pairs.rejected)
        wins = (chosen > rejected).astype(float)
        return {
            "mean_return": float(wins.mean()),
            "std_return": float(wins.std()),
            "episodes": len(wins),
            "accuracy": float(wins.mean()),
            "margin": float((chosen - rejected).mean()),
            "best_epoch": self.best_epoch,
        }

    @contextlib.contextmanager
    def kept_weights(self) -> Iterator[BradleyTerry]:
        """The reward model with the kept epoch's weights (the current ones before any epoch), put in
        place of the current ones and put back after: no second backbone is built (SmolLM2 takes
        minutes to load), and training continues from exactly the weights it had."""
        if self.best_weights is None:
            yield self.model
            return
        current = copy.deepcopy(self.model.net.state_dict())
        self.model.net.load_state_dict(self.best_weights)
        try:
            yield self.model
        finally:
            self.model.net.load_state_dict(current)

    def parameters_finite(self) -> str | None:
        return self.model.non_finite()


def build_model(config: RewardModelConfig, name: str | None = None) -> BradleyTerry:
    return BradleyTerry(
        config.backbone,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        batch_size=config.batch_size,
        center_rewards_coefficient=config.center_rewards_coefficient or None,
        val_fraction=config.val_fraction,
        max_length=config.max_length,
        lora_r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_target_modules=config.lora_target_modules,
        seed=config.seed,
        name=name,
    )


def is_reward_model_dir(path: str | Path) -> bool:
    path = Path(path)
    return (path / "reward_model.json").is_file() or (path / "config.toml").is_file()


def load_reward_model(path: str | Path, *, name: str | None = None, on_error: str = "raise") -> BradleyTerry:
    """A trained reward model from a ``reward-model`` run directory or a :meth:`BradleyTerry.save`
    directory (see the module docstring); anything else is an error that says what was expected."""
    from rewardlab.core.run import load_checkpoint, load_saved_config

    path = Path(path).expanduser()
    shown = str(path)
    if not path.exists():
        raise RewardlabError(
            f"reward model {shown!r} does not exist; give the directory of a `rewardlab train reward-model` run "
            f"or one written by BradleyTerry.save"
        )
    if (path / "reward_model.json").is_file():
        import json

        saved_name = json.loads((path / "reward_model.json").read_text()).get("name")
        return BradleyTerry.load(path, name=name or saved_name or path.name, on_error=on_error)
    if not (path / "config.toml").is_file():
        raise RewardlabError(
            f"reward model {shown!r} is neither a reward-model run directory (config.toml + checkpoints) nor a "
            f"saved reward model (reward_model.json + reward_model.pt)"
        )
    algo, config = load_saved_config(path)
    if algo != ALGO_NAME:
        raise RewardlabError(
            f"reward model {shown!r} is a {algo!r} run, not a {ALGO_NAME!r} run; train one with "
            f"`rewardlab train {ALGO_NAME} --set data=pairs.jsonl`"
        )
    _, _, state = load_checkpoint(path)  # the newest checkpoint whose checksum verifies
    saved = state["algo"]
    weights = saved["best_weights"] if saved["best_weights"] is not None else saved["model"]["net"]
    rm = build_model(config, name=name or path.name)
    rm.on_error = on_error
    try:
        rm.net.load_state_dict(weights)
    except RuntimeError as e:
        raise RewardlabError(
            f"reward model {shown!r}: its weights do not fit the {config.backbone!r} backbone of its config "
            f"({str(e).splitlines()[0]})"
        ) from None
    rm.net.eval()
    return rm
