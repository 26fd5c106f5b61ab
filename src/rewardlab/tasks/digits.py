"""Toy one-token digit tasks for the tiny in-process Llama (:mod:`rewardlab.llm.tiny`): prompt ``"d="``.

Not registered task names: the tests and benchmarks that check a trainer's mechanism on the tiny
model build them directly (``CopyDigit(seed=0)``), so they do not repeat the task in each file.
"""

from __future__ import annotations

from typing import Any

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


# ---- a multi-step toy for step-level judges and beam search (benchmarks/judge_beam_search.py) ------
# The prompt is a start digit "s:", a trajectory is digits, one per step, and a step is right when it
# is the previous digit plus one (mod 10). A noisy "policy" proposes the right step with probability
# p_right, else one of the nine others.


def successor(prev: str) -> str:
    return str((int(prev) + 1) % 10)


def successor_trajectory(start: str, n: int) -> list[str]:
    """The right ``n`` steps after ``start``."""
    out = [start]
    for _ in range(n):
        out.append(successor(out[-1]))
    return out[1:]


def propose_successor(prev: str, p_right: float, rng: Any) -> str:
    """The noisy policy's next step after ``prev``."""
    if rng.random() < p_right:
        return successor(prev)
    return str(rng.choice([d for d in DIGITS if d != successor(prev)]))


def successor_step_labels(n: int, steps: int, p_right: float | None, rng: Any) -> tuple[list, list[int]]:
    """``(samples, labels)`` for a step-level judge: a right prefix of random length (0 to steps - 1)
    then one more step, labelled 1 when it is right. The last step is right half the time
    (``p_right`` None: balanced, the wrong ones are hard negatives, a wrong digit) or as the noisy
    policy proposes it."""
    from rewardlab.rewards.learned.judge import step_prefixes

    samples, labels = [], []
    for _ in range(n):
        start, t = str(rng.integers(10)), int(rng.integers(steps))
        prefix = successor_trajectory(start, t)
        prev = prefix[-1] if prefix else start
        if p_right is None:
            last = successor(prev) if rng.random() < 0.5 else propose_successor(prev, 0.0, rng)
        else:
            last = propose_successor(prev, p_right, rng)
        samples.append(step_prefixes(f"{start}:", [*prefix, last])[-1])
        labels.append(int(last == successor(prev)))
    return samples, labels
