"""``countdown``: reach a target with the given numbers and + - * / (each number used once).

With the defaults it is the 24-points card game of GTR (Wei et al. 2025, "GTR: Guided Thought
Reinforcement Prevents Thought Collapse in RL-based VLM Agent Training", arXiv 2503.08525): four
cards 1..13, target 24, only solvable hands. ``target=0`` draws a random reachable target
instead (the TinyZero / Countdown task).

The reward parses the expression (the ``<answer>`` content if present, else the last line, with
any trailing ``= value`` removed) with :mod:`ast` and evaluates it by walking the tree with exact
fractions: only numbers, + - * / and parentheses are accepted; nothing is ever passed to ``eval``.
It is 1 when the numbers used are exactly the given ones (as a multiset) and the value equals
the target, else 0; unparseable output is malformed (0, noted).
"""

from __future__ import annotations

import ast
import itertools
import operator
import random
from collections import Counter
from fractions import Fraction
from typing import Any

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Malformed, Reward, Sample, Scored, reference_of
from rewardlab.rewards.parsing import tag_content
from rewardlab.tasks.base import Example, Task

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
MAX_EXPRESSION_CHARS = 200


def evaluate_expression(text: str) -> tuple[Fraction, list[int]]:
    """Value (exact) and the integer literals of an arithmetic expression, by an AST walk."""
    text = text.replace("×", "*").replace("÷", "/").replace("x", "*").strip()
    if len(text) > MAX_EXPRESSION_CHARS:
        raise Malformed(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise Malformed(f"not an arithmetic expression: {text[:40]!r}") from None
    numbers: list[int] = []

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise Malformed("division by zero")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            numbers.append(node.value)
            return Fraction(node.value)
        raise Malformed(f"only integers, + - * / and parentheses are allowed, found {type(node).__name__}")

    return walk(tree), numbers


def extract_expression(completion: str) -> str:
    inner = tag_content(completion, "answer")
    text = inner if inner is not None else (completion.strip().splitlines() or [""])[-1]
    if "=" in text:
        text = text.split("=")[0]
    if not text.strip():
        raise Malformed("no expression")
    return text


class CountdownReward(Reward):
    """1 if the expression uses exactly the given numbers and equals the target, else 0.

    Reference: ``{"numbers": [...], "target": int}``."""

    name = "countdown"
    description = "1 if the expression uses exactly the given numbers once each and equals the target"

    def compute(self, sample: Sample) -> float | Scored:
        ref = reference_of(sample)
        value, used = evaluate_expression(extract_expression(sample.completion))
        if Counter(used) != Counter(ref["numbers"]):
            return Scored(0.0, note=f"uses {sorted(used)}, must use {sorted(ref['numbers'])}")
        return 1.0 if value == ref["target"] else 0.0


def solve(numbers: list[int], target: int) -> str | None:
    """An expression reaching ``target`` with all ``numbers`` (exhaustive search), or None."""
    items = [(Fraction(n), str(n)) for n in numbers]

    def search(items: list[tuple[Fraction, str]]) -> str | None:
        if len(items) == 1:
            return items[0][1] if items[0][0] == target else None
        for i, j in itertools.permutations(range(len(items)), 2):
            (a, ea), (b, eb) = items[i], items[j]
            rest = [items[k] for k in range(len(items)) if k not in (i, j)]
            options = [(a + b, f"({ea} + {eb})"), (a - b, f"({ea} - {eb})"), (a * b, f"({ea} * {eb})")]
            if b != 0:
                options.append((a / b, f"({ea} / {eb})"))
            for value, expr in options:
                found = search([*rest, (value, expr)])
                if found:
                    return found
        return None

    found = search(items)
    return found[1:-1] if found and found.startswith("(") else found


PROMPT = (
    "Using the numbers {numbers}, each exactly once, and the operations + - * / with parentheses, "
    "write an expression equal to {target}. Give only the expression inside <answer>...</answer>."
)


class Countdown(Task):
    name = "countdown"
    description = "reach a target (24 by default) with given numbers and + - * / (AST-checked)"

    def __init__(
        self,
        seed: int = 0,
        reward: str | dict[str, Any] | None = None,
        *,
        num_numbers: int = 4,
        max_number: int = 13,
        target: int = 24,
        num_train: int = 2000,
        num_test: int = 200,
        test_seed: int = 1234,
    ) -> None:
        super().__init__(seed, reward)
        if num_numbers < 2 or max_number < 1:
            raise ConfigError(
                f"countdown: need num_numbers >= 2 and max_number >= 1, got {num_numbers}, {max_number}"
            )
        self.num_numbers, self.max_number, self.target = num_numbers, max_number, target
        self.num_train, self.num_test, self.test_seed = num_train, num_test, test_seed

    def _problem(self, rng: random.Random) -> tuple[tuple[int, ...], int] | None:
        numbers = tuple(sorted(rng.randint(1, self.max_number) for _ in range(self.num_numbers)))
        if self.target:
            return (numbers, self.target) if solve(list(numbers), self.target) else None
        # a random reachable target: fold the numbers with random + - * (positive results only)
        order = list(numbers)
        rng.shuffle(order)
        value = order[0]
        for n in order[1:]:
            value = rng.choice([value + n, value * n, abs(value - n)])
        return (numbers, value) if value > 0 else None

    def _draw(self, rng: random.Random, n: int, exclude: set) -> list[tuple[tuple[int, ...], int]]:
        out, seen, tries = [], set(exclude), 0
        while len(out) < n:
            tries += 1
            if tries > 200 * n + 1000:
                raise ConfigError(
                    f"countdown: could not draw {n} distinct solvable problems (num_numbers={self.num_numbers}, "
                    f"max_number={self.max_number}, target={self.target}); lower num_train / num_test"
                )
            p = self._problem(rng)
            if p is not None and p not in seen:
                seen.add(p)
                out.append(p)
        return out

    def build(self, split: str) -> list[Example]:
        problems = self.split_problems(split)
        return [
            Example(
                prompt=PROMPT.format(numbers=", ".join(map(str, nums)), target=target),
                reference={"numbers": list(nums), "target": target},
            )
            for nums, target in problems
        ]

    def default_reward(self) -> Any:
        return CountdownReward()
