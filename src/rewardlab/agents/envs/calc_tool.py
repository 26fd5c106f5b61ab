"""``calc-tool``: arithmetic a small model cannot do in its head, with a ``calculator`` tool.

Problems are ``A op B`` with a 3-digit A and a 2-digit B (multiplication by default), which
SmolLM2-135M gets wrong almost always without help. The agent may call
``calculator(expression)`` -- evaluated by walking the Python AST of the expression (numbers,
+ - * / // % **, parentheses; nothing else, never ``eval``) -- then answers in
``<answer>...</answer>`` (``hermes`` format by default).

Reward: ``math_equiv`` of the final answer (exact match, 1 / 0), plus ``tool_bonus`` x
:class:`~rewardlab.agents.rewards.ToolUsed` (default 0). verl PR #4998 adds +0.1 for any tool
call because multi-turn GSM8K agents learned to stop calling the tool (verl #1569); set
``tool_bonus = 0.1`` for that recipe.
"""

from __future__ import annotations

import ast
import operator
import random
from typing import Any

from rewardlab.agents.actions import Action
from rewardlab.agents.env import StepResult, ToolEnv
from rewardlab.agents.tools import ToolError, tool
from rewardlab.errors import ConfigError
from rewardlab.tasks.base import Example

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
MAX_MAGNITUDE = 10**30  # results beyond this are refused (a model could ask for 9**9**9)


def evaluate_expression(expression: str) -> int | float:
    """Value of an arithmetic expression by AST walking; :class:`ToolError` for anything else."""
    if not isinstance(expression, str) or len(expression) > 200:
        raise ToolError("the expression must be a string of at most 200 characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolError(f"cannot parse {expression[:60]!r}; write e.g. 347 * 86") from None

    def walk(node: ast.AST) -> int | float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 10**6):
                raise ToolError("exponent too large")
            try:
                value = _BINARY[type(node.op)](left, right)
            except ZeroDivisionError:
                raise ToolError("division by zero") from None
            if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
                raise ToolError("result out of range")
            return value
        raise ToolError(f"only numbers and + - * / // % ** ( ) are allowed, not {type(node).__name__}")

    value = walk(tree)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value


class CalcToolEnv(ToolEnv):
    name = "calc-tool"
    description = "3-digit x 2-digit arithmetic with a calculator(expression) tool; exact-match reward"
    summary = description
    action_format = "hermes"
    max_turns = 4

    def __init__(
        self,
        digits_a: int = 3,
        digits_b: int = 2,
        ops: str = "*",
        tool_bonus: float = 0.0,
        num_train: int = 5000,
        num_test: int = 200,
        test_seed: int = 1234,
    ) -> None:
        super().__init__()
        if digits_a < 1 or digits_b < 1:
            raise ConfigError(f"calc-tool: digits_a and digits_b must be >= 1, got {digits_a}, {digits_b}")
        bad = [o for o in ops if o not in OPS]
        if bad or not ops:
            raise ConfigError(f"calc-tool: ops {ops!r} may only contain {', '.join(OPS)}")
        self.digits_a, self.digits_b, self.ops = digits_a, digits_b, "".join(dict.fromkeys(ops))
        self.tool_bonus = float(tool_bonus)
        self.num_train, self.num_test, self.test_seed = num_train, num_test, test_seed
        self.problem: dict[str, Any] = {}

    # ---- problems -----------------------------------------------------------------------------
    def _draw(self, rng: random.Random, n: int, exclude: set) -> list[tuple[int, str, int]]:
        lo_a, lo_b = 10 ** (self.digits_a - 1), 10 ** (self.digits_b - 1)
        out, seen = [], set(exclude)
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > 50 * n + 1000:
                raise ConfigError(
                    f"calc-tool: cannot draw {n} distinct problems with these digits; lower num_train"
                )
            p = (rng.randint(lo_a, 10 * lo_a - 1), rng.choice(self.ops), rng.randint(lo_b, 10 * lo_b - 1))
            if p not in seen:
                seen.add(p)
                out.append(p)
        return out

    def problems(self, split: str, seed: int) -> list[Example]:
        test = self._draw(random.Random(self.test_seed), self.num_test, set())
        chosen = test if split == "test" else self._draw(random.Random(seed), self.num_train, set(test))
        return [
            Example(prompt=None, reference=str(OPS[op](a, b)), info={"expression": f"{a} {op} {b}"})
            for a, op, b in chosen
        ]

    def default_reward(self) -> Any:
        from rewardlab.agents.rewards import ToolUsed
        from rewardlab.rewards import WeightedSum, get

        correct = get("math_equiv")
        if self.tool_bonus == 0:
            return correct
        return WeightedSum([correct, ToolUsed()], [1.0, self.tool_bonus], name="calc_tool")

    # ---- episode ------------------------------------------------------------------------------
    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        if task is None:
            raise ConfigError("calc-tool: reset needs task= (one of env.problems(split, seed))")
        self.problem = {"expression": task.info["expression"], "answer": task.reference}
        prompt = f"What is {task.info['expression']}?\n{self.instructions()}"
        return [{"role": "user", "content": prompt}], {}

    @tool
    def calculator(self, expression: str) -> str:
        """Evaluate an arithmetic expression exactly.

        Args:
            expression: numbers with + - * / // % ** and parentheses, e.g. "347 * 86"
        """
        return str(evaluate_expression(expression))

    def on_answer(self, action: Action) -> StepResult:
        answer = action.answer if action.answer is not None else ""
        return StepResult([], 0.0, True, False, {"success": answer.strip() == self.problem["answer"]})

    def oracle(self, messages: list[dict], info: dict) -> str:
        if messages[-1]["role"] != "tool":
            expr = self.problem["expression"]
            return f'<tool_call>{{"name": "calculator", "arguments": {{"expression": "{expr}"}}}}</tool_call>'
        return f"<answer>{messages[-1]['content']}</answer>"
