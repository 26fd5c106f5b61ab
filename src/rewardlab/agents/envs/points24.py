"""``points24``: GTR's 24-points card game as a multi-step env (one formula token per turn).

The env follows gym-cards' ``Point24Env`` that GTR (Wei et al. 2025, arXiv 2503.08525) trains
on, as read in ``docs/agents.md`` (research notes on the gym-cards and weit123/GTR code):

* four cards, A..K with J / Q / K worth 10; only solvable hands are drawn;
* each turn the agent writes GTR's JSON ``{"cards": [...], "formula": "...", "thoughts": "...",
  "action": "X"}``; the action is one card value or one of ``+ - * / ( ) =``;
* reward **10** when ``=`` closes a formula that uses all four cards and equals 24; **-1** and the
  episode ends for a wrong or incomplete formula at ``=``; **-1** (episode goes on) for an invalid
  action such as a card used more often than dealt (a blank joins the formula, as gym-cards does);
  **0** otherwise; the episode is truncated with -1 once the formula passes 20 tokens;
* GTR's **format reward 5** per turn whose JSON has the four keys, added to the return
  (``format_reward``, 0 turns it off).

The corrector: GTR asks GPT-4o (with a 24-points solver as its tool) whether each thought is right
and, if not, trains the corrected thought with an SFT loss. Ours is rule-based (ours): the target
formula is the solver's solution for the hand; a thought that does not name the next target token
gets ``info["corrected_thought"]`` saying what it is. ``strict_target = true`` also truncates the
episode with -1 when an action leaves the target formula (GTR's "deviation" rule).
``info["corrected_turn"]`` is the whole corrected JSON turn: ``[agent] thought_cloning_coef > 0``
with ``thought_cloning_source = "corrector"`` adds GTR's SFT term on it to the RL loss
(:mod:`rewardlab.agents.thought_cloning`).
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
from collections import Counter
from fractions import Fraction
from typing import Any

from rewardlab.agents.actions import Action
from rewardlab.agents.env import ChatEnv, StepResult
from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Malformed
from rewardlab.tasks.base import Example
from rewardlab.tasks.countdown import evaluate_expression, solve

FACES = {"A": 1, "J": 10, "Q": 10, "K": 10, **{str(n): n for n in range(2, 11)}}
OPERATORS = ("+", "-", "*", "/", "(", ")", "=")
KEYS = ("cards", "formula", "thoughts", "action")
MAX_FORMULA = 20
_TOKEN = re.compile(r"\d+|[()+\-*/]")


def tokens_of(expression: str) -> list[str]:
    return _TOKEN.findall(expression)


@functools.cache
def reachable(numbers: tuple[Fraction, ...]) -> frozenset[Fraction]:
    """Every value + - * / can make from all of ``numbers`` (sorted tuple; memoised, so the 715
    four-value hands share their sub-results)."""
    if len(numbers) == 1:
        return frozenset(numbers)
    out: set[Fraction] = set()
    n = len(numbers)
    for i in range(n):
        for j in range(i + 1, n):
            rest = [numbers[k] for k in range(n) if k not in (i, j)]
            a, b = numbers[i], numbers[j]
            options = {a + b, a - b, b - a, a * b}
            if b != 0:
                options.add(a / b)
            if a != 0:
                options.add(b / a)
            for v in options:
                out |= reachable(tuple(sorted([*rest, v])))
    return frozenset(out)


_SOLVABLE: list[tuple[str, ...]] = []


def solvable_hands() -> list[tuple[str, ...]]:
    """All four-card hands (faces, sorted) whose values reach 24 (computed once)."""
    if not _SOLVABLE:
        for hand in itertools.combinations_with_replacement(sorted(FACES), 4):
            if Fraction(24) in reachable(tuple(sorted(Fraction(FACES[c]) for c in hand))):
                _SOLVABLE.append(hand)
    return _SOLVABLE


class Points24Env(ChatEnv):
    name = "points24"
    description = "GTR 24-points: one formula token per turn, JSON actions, reward 10 / -1, format 5"
    summary = description
    action_format = "json"
    max_turns = 24

    def __init__(
        self,
        format_reward: float = 5.0,
        strict_target: bool = False,
        num_train: int = 2000,
        num_test: int = 100,
        test_seed: int = 1234,
    ) -> None:
        self.format_reward, self.strict_target = float(format_reward), bool(strict_target)
        self.num_train, self.num_test, self.test_seed = num_train, num_test, test_seed
        if num_train < 1 or num_test < 1:
            raise ConfigError(f"points24: num_train and num_test must be >= 1, got {num_train}, {num_test}")
        self.cards: list[str] = []
        self.formula: list[str] = []
        self.target: list[str] = []

    def problems(self, split: str, seed: int) -> list[Example]:
        # every solvable hand (as card faces), test hands drawn from test_seed, training from the rest
        hands = solvable_hands()
        test = random.Random(self.test_seed).sample(hands, min(self.num_test, len(hands) // 2))
        if split == "test":
            chosen = test
        else:
            rest = sorted(set(hands) - set(test))
            random.Random(seed).shuffle(rest)
            chosen = rest[: self.num_train]
        return [Example(prompt=None, reference=24, info={"cards": list(h)}) for h in chosen]

    def default_reward(self) -> Any:
        from rewardlab.agents.rewards import EnvReturn

        return EnvReturn(maximum=10.0, minimum=-float("inf"))

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        if task is None:
            raise ConfigError("points24: reset needs task= (one of env.problems(split, seed))")
        self.cards = list(task.info["cards"])
        self.formula = []
        self.target = tokens_of(solve([FACES[c] for c in self.cards], 24)) + ["="]
        prompt = (
            f"You are playing 24 points with the cards {self.cards} (A = 1, J = Q = K = 10). Build a formula "
            "that uses each card's value exactly once and equals 24, one token per turn. Each turn reply with "
            'a JSON object {"cards": [...], "formula": "the formula so far", "thoughts": "your reasoning", '
            '"action": "X"} where X is one card value or one of + - * / ( ) =. Write = when the formula is done.'
        )
        return [{"role": "user", "content": prompt}], {"target": " ".join(self.target)}

    def _observe(self, note: str) -> list[dict]:
        return [{"role": "user", "content": f"{note} Cards: {self.cards}. Formula: {' '.join(self.formula)}"}]

    def _available(self, token: str) -> bool:
        dealt = Counter(FACES[c] for c in self.cards)
        used = Counter(int(t) for t in self.formula if t.isdigit())
        return token.isdigit() and dealt[int(token)] > used[int(token)]

    def step(self, action: Action) -> StepResult:
        data = action.data if isinstance(action.data, dict) else None
        fmt = self.format_reward if data is not None and all(k in data for k in KEYS) else 0.0
        info: dict[str, Any] = {
            "format": fmt > 0,
            "malformed": int(data is None),
            "errors": int(data is None),
        }
        token = str(data.get("action", "")).strip() if data is not None else ""
        expected = self.target[len(self.formula)] if len(self.formula) < len(self.target) else "="
        thoughts = str(data.get("thoughts", "")) if data is not None else ""
        if expected not in thoughts:
            info["corrected_thought"] = (
                f"The formula so far is '{' '.join(self.formula)}'; the solution {' '.join(self.target)} "
                f"continues with '{expected}'."
            )
            # the whole turn as it should have been, GTR's SFT label (``thought_cloning_source =
            # "corrector"``): the same JSON with the corrected thought and the solver's next token
            info["corrected_turn"] = json.dumps(
                {
                    "cards": self.cards,
                    "formula": " ".join(self.formula),
                    "thoughts": info["corrected_thought"],
                    "action": expected,
                }
            )
        if token == "=":
            try:
                value, used = evaluate_expression(" ".join(self.formula))
            except Malformed:
                value, used = None, []
            won = value == Fraction(24) and Counter(used) == Counter(FACES[c] for c in self.cards)
            info["success"] = won
            return StepResult([], (10.0 if won else -1.0) + fmt, True, False, info)
        if self.strict_target and token != expected:
            info["success"] = False
            return StepResult([], -1.0 + fmt, False, True, info)
        valid = token in OPERATORS or self._available(token)
        self.formula.append(token if valid else "")  # gym-cards: an invalid action adds a blank
        if len(self.formula) > MAX_FORMULA:
            info["success"] = False
            return StepResult([], -1.0 + fmt, False, True, info)
        if not valid:
            info["errors"] = 1
            return StepResult(
                self._observe(f"Invalid action {token[:10]!r}."), -1.0 + fmt, False, False, info
            )
        return StepResult(self._observe("OK."), fmt, False, False, info)

    def oracle(self, messages: list[dict], info: dict) -> str:
        nxt = self.target[len(self.formula)]
        return json.dumps(
            {
                "cards": self.cards,
                "formula": " ".join(self.formula),
                "thoughts": f"next is {nxt}",
                "action": nxt,
            }
        )
