"""``arithmetic``: generated integer problems ``What is A op B?`` with + - * (digits configurable).

Train and test splits are disjoint by construction: the test split is drawn first from a fixed
``test_seed`` (the same held-out problems for every run, so runs compare), then training problems
are drawn from ``seed`` and any problem of the test split is skipped.

The default reward is ``math_equiv`` (the final answer, i.e. the ``<answer>`` content, else the
last ``\\boxed{}``, else the last number in the completion, equals the result). The last number
is the forgiving parser the calibration in docs/calibration.md uses
(SmolLM2-135M-Instruct writes "23 - 35 equals 2."; taking the first number would score it 0).
``format_weight > 0`` adds ``format_tags`` (``<think>...</think><answer>...</answer>``) with that
weight and asks for the tags in the prompt.
"""

from __future__ import annotations

import random
from typing import Any

from rewardlab.errors import ConfigError
from rewardlab.tasks.base import Example, Task, build_reward

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
PLAIN = "What is {a} {op} {b}? Reply with only the number."
TAGGED = (
    "What is {a} {op} {b}? Think step by step inside <think>...</think>, then give only the number "
    "inside <answer>...</answer>."
)


class Arithmetic(Task):
    name = "arithmetic"
    description = "integer + - * problems; reward: final number equals the result (math_equiv)"

    def __init__(
        self,
        seed: int = 0,
        reward: str | dict[str, Any] | None = None,
        *,
        digits: int = 2,
        ops: str = "+-",
        num_train: int = 5000,
        num_test: int = 200,
        test_seed: int = 1234,
        format_weight: float = 0.0,
        template: str = "",
    ) -> None:
        super().__init__(seed, reward)
        if digits < 1:
            raise ConfigError(f"arithmetic: digits must be >= 1, got {digits}")
        bad = [o for o in ops if o not in OPS]
        if bad or not ops:
            raise ConfigError(f"arithmetic: ops {ops!r} may only contain {', '.join(OPS)}")
        lo = 0 if digits == 1 else 10 ** (digits - 1)
        space = (10**digits - lo) ** 2 * len(set(ops))
        if num_train + num_test > space // 2:
            raise ConfigError(
                f"arithmetic: {num_train} train + {num_test} test problems is too many for {digits}-digit "
                f"operands and ops {ops!r} ({space} distinct problems); lower num_train or num_test"
            )
        self.digits, self.ops, self.lo, self.hi = digits, "".join(dict.fromkeys(ops)), lo, 10**digits - 1
        self.num_train, self.num_test, self.test_seed = num_train, num_test, test_seed
        self.format_weight = format_weight
        self.template = template or (TAGGED if format_weight > 0 else PLAIN)

    def _draw(self, rng: random.Random, n: int, exclude: set) -> list[tuple[int, str, int]]:
        out: list[tuple[int, str, int]] = []
        seen = set(exclude)
        while len(out) < n:
            problem = (rng.randint(self.lo, self.hi), rng.choice(self.ops), rng.randint(self.lo, self.hi))
            if problem not in seen:
                seen.add(problem)
                out.append(problem)
        return out

    def build(self, split: str) -> list[Example]:
        problems = self.split_problems(split)
        return [
            Example(
                prompt=self.template.format(a=a, op=op, b=b),
                reference=str(OPS[op](a, b)),
                info={"a": a, "op": op, "b": b},
            )
            for a, op, b in problems
        ]

    def default_reward(self) -> Any:
        correct = build_reward("math_equiv")
        if self.format_weight <= 0:
            return correct
        from rewardlab.rewards import WeightedSum

        return WeightedSum(
            [correct, build_reward("format_tags")], [1.0, self.format_weight], name="arithmetic"
        )
