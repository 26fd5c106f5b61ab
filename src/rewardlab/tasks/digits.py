"""Toy one-token digit tasks for the tiny in-process Llama (:mod:`rewardlab.llm.tiny`): prompt ``"d="``.

Not registered task names: the tests and benchmarks that check a trainer's mechanism on the tiny
model build them directly (``CopyDigit(seed=0)``), so they do not repeat the task in each file.
"""

from __future__ import annotations

from rewardlab.llm.tiny import DIGITS
from rewardlab.rewards.base import reward as make_reward
from rewardlab.tasks.base import Example, Task


class CopyDigit(Task):
    """Prompt ``"d="``; the answer is the completion's first character, correct when it is ``d``.
    A random model writes the right digit about 1 time in (vocabulary size) — chance."""

    name = "copy_digit"

    def build(self, split):
        return [Example(prompt=f"{d}=", reference=d) for d in DIGITS]

    def default_reward(self):
        @make_reward(name="copy")
        def copy(sample):
            return 1.0 if sample.completion[:1] == sample.reference else 0.0

        return copy


def three_answers_correct(completion: str, reference: str) -> bool:
    """The first character is a digit ``e`` with ``(e - d) mod 10`` in {1, 4, 7}: three right answers."""
    c = completion[:1]
    return c.isdigit() and (int(c) - int(reference)) % 10 in (1, 4, 7)


class ThreeAnswers(Task):
    """Prompt ``"d="`` with three correct one-token answers (:func:`three_answers_correct`): the
    stand-in for ROVER's diversity claim, where a mode-seeking optimizer keeps only one of them."""

    name = "three_answers"

    def build(self, split):
        return [Example(prompt=f"{d}=", reference=d) for d in DIGITS]

    def default_reward(self):
        @make_reward(name="three")
        def three(sample):
            return 1.0 if three_answers_correct(sample.completion, sample.reference) else 0.0

        return three
