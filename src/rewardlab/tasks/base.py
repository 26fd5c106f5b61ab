"""The Task contract: prompts with references, split into train / test, and a default reward.

A task is what an LM agent is trained and evaluated on (the LLM analogue of a Gymnasium env)::

    task = rewardlab.tasks.make("arithmetic", seed=0, digits=2)
    train = task.examples("train")          # a list of Example(prompt, reference, info)
    reward = task.reward()                  # a rewardlab.rewards.Reward (built lazily)

Trainers turn each example and completion into a ``rewardlab.rewards.Sample`` and call the reward.
``reward=`` (a registered reward name, or a reward spec dict as ``rewardlab.rewards`` reads
from TOML) replaces a task's default reward.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rewardlab.errors import ConfigError

SPLITS = ("train", "test")


@dataclass
class Example:
    """One prompt (text, or chat ``messages``) with its ground truth and any extra columns."""

    prompt: str | list[dict[str, Any]]
    reference: Any = None
    info: dict[str, Any] = field(default_factory=dict)


def build_reward(spec: str | dict[str, Any], **params: Any) -> Any:
    """A reward from the rewards registry: a name (with ``params``) or a spec dict."""
    from rewardlab import rewards

    if isinstance(spec, dict):
        return rewards.build(spec)
    return rewards.get(spec, **params)


class Task:
    """Base class. Subclasses set ``name`` and implement :meth:`build` (the examples of a split)
    and :meth:`default_reward`."""

    name: str = "task"
    description: str = ""

    def __init__(self, seed: int = 0, reward: str | dict[str, Any] | None = None) -> None:
        self.seed = seed
        self.reward_spec = reward
        self._cache: dict[str, list[Example]] = {}

    def build(self, split: str) -> list[Example]:
        raise NotImplementedError

    def default_reward(self) -> Any:
        raise NotImplementedError

    def split_problems(self, split: str) -> list[Any]:
        """For generated tasks with ``_draw(rng, n, exclude)``, ``num_train``, ``num_test`` and
        ``test_seed``: the test problems come from ``test_seed`` (the same held-out set for every
        run, so runs compare), the training problems from ``seed``, never repeating a test problem."""
        test = self._draw(random.Random(self.test_seed), self.num_test, set())
        if split == "test":
            return test
        return self._draw(random.Random(self.seed), self.num_train, set(test))

    def examples(self, split: str = "train") -> Sequence[Example]:
        if split not in SPLITS:
            raise ConfigError(f"task {self.name!r} has no split {split!r}; valid splits: {', '.join(SPLITS)}")
        if split not in self._cache:
            self._cache[split] = self.build(split)
        return self._cache[split]

    def check_splits(self) -> None:
        """Build every split now, so that one that comes out empty fails before the first training
        step rather than at the evaluation after training."""
        for split in SPLITS:
            if not self.examples(split):
                raise ConfigError(
                    f"task {self.name!r}: its {split!r} split is empty; give it at least one example"
                )

    def reward(self) -> Any:
        """The task's reward: ``reward=`` when given, else :meth:`default_reward`."""
        if self.reward_spec is not None:
            return build_reward(self.reward_spec)
        return self.default_reward()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed})"
