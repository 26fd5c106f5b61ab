r"""``math_equiv``: 1 when the final answer equals the reference numerically or symbolically.

The rule-based math accuracy reward of the RLVR papers (DeepSeek-R1; in public code e.g. TRL
``trl/rewards/accuracy_rewards.py::accuracy_reward`` and verl
``verl/utils/reward_score/math.py``), written here without ``eval``:

1. The final answer is the ``<answer>`` content (its ``\boxed{}`` if it has one), else the last
   ``\boxed{}``, else the last number (:func:`~rewardlab.rewards.parsing.final_answer`).
2. Both sides are normalised: ``$``, ``\left``/``\right``, spacing commands, ``\text{}``,
   degree and percent signs and a trailing period are dropped, thousands separators removed
   (``1,000 == 1000``), ``\dfrac``/``\tfrac``/``\frac``, ``\sqrt``, ``\cdot``, ``\times``,
   ``\pi``, ``^`` and implicit products (``2x``) turned into arithmetic.
3. Equal strings match. Otherwise each side is parsed with :mod:`ast` and the tree is turned
   into a SymPy expression node by node (numbers, + - * / **, a few named functions, one-letter
   symbols): nothing is ever evaluated as Python. Decimals become exact rationals, so
   ``1/2 == 0.5``. Constant expressions are compared numerically (relative ``tolerance``);
   expressions with symbols are compared at random points and then, if that is inconclusive,
   with ``sympy.simplify(a - b) == 0`` under ``time_limit`` seconds. Comma-separated answers
   are compared element by element, in order.

Time limit: in the main thread, when no other real-time timer is running (it is never
overridden), a ``signal.setitimer`` alarm. Elsewhere (worker threads: the failure behind verl PR
#5635 and TRL PR #5281 was an alarm in a worker thread silently scoring 0) the comparison runs
in a helper thread that is stopped by an asynchronous exception when the limit passes
(:func:`rewardlab.rewards.base.call_with_timeout`; SymPy is pure Python, so it stops at its next
bytecode). The size bounds hold in every case: answers longer than ``max_chars`` characters or
with powers above ``max_exponent`` are compared as strings only. SymPy is imported on first use.
"""

from __future__ import annotations

import ast
import contextlib
import math
import random
import re
import signal
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from rewardlab.rewards.base import CallTimedOut, Reward, Sample, Scored, call_with_timeout, reference_of
from rewardlab.rewards.parsing import final_answer


class _NotMath(Exception):
    """The text is not an arithmetic expression we can build safely."""


class _TimedOut(Exception):
    pass


_DROP = [
    r"\$",
    r"\\left",
    r"\\right",
    r"\\displaystyle",
    r"\\[,;:! ]",
    r"\\quad",
    r"\\qquad",
    r"\^\s*\{?\\circ\}?",
    r"\\circ",
    r"\\%",
    r"%",
    r"\\degree",
]


def _replace_braced(text: str, command: str, build: Any, nargs: int) -> str:
    """Replace ``\\command{a}{b}`` (balanced braces) with ``build(a, b)``, innermost-safe, repeatedly."""
    while True:
        start = text.find(command)
        if start < 0:
            return text
        i = start + len(command)
        args = []
        for _ in range(nargs):
            while i < len(text) and text[i] == " ":
                i += 1
            if i >= len(text):
                raise _NotMath("unbalanced braces")
            if text[i] != "{":  # \frac12 style: one character per argument
                args.append(text[i])
                i += 1
                continue
            depth, j = 0, i
            while j < len(text):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            if depth:
                raise _NotMath("unbalanced braces")
            args.append(text[i + 1 : j])
            i = j + 1
        text = text[:start] + build(*args) + text[i:]


def normalize_math(text: str) -> str:
    """The normalised answer string (step 2 of the module docstring)."""
    s = text.strip()
    s = re.sub(r"\\(?:text|mbox|mathrm|textbf)\{([^{}]*)\}", lambda m: m.group(1) if s.startswith(m.group(0)) else "", s)
    for pattern in _DROP:
        s = re.sub(pattern, "", s)
    s = s.strip().rstrip(".").strip()
    s = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    return " ".join(s.split())


def latex_to_python(s: str) -> str:
    """Arithmetic text for :mod:`ast` from a normalised LaTeX-ish answer."""
    s = _replace_braced(s, "\\frac", lambda a, b: f"(({a})/({b}))", 2)
    s = re.sub(r"\\sqrt\s*\[([^\]]*)\]\s*\{([^{}]*)\}", r"((\2)**(1/(\1)))", s)
    s = _replace_braced(s, "\\sqrt", lambda a: f"sqrt({a})", 1)
    for latex, py in (
        (r"\\cdot", "*"),
        (r"\\times", "*"),
        (r"\\div", "/"),
        (r"\\pi", "pi"),
        (r"\\ln", "log"),
        (r"\\log", "log"),
        (r"\\exp", "exp"),
        (r"\\sin", "sin"),
        (r"\\cos", "cos"),
        (r"\\tan", "tan"),
    ):
        s = re.sub(latex, py, s)
    if "\\" in s:
        raise _NotMath("unsupported LaTeX command")
    s = s.replace("{", "(").replace("}", ")").replace("^", "**")
    # implicit products: 2x, 2(, )(, )x, x( for one-letter symbols; 2pi
    s = re.sub(r"(\d)\s*(?![eE][+-]?\d)([a-zA-Z(])", r"\1*\2", s)  # but not 1e5
    s = re.sub(r"\)\s*([\w(])", r")*\1", s)
    return s


_FUNCS = {"sqrt", "log", "exp", "sin", "cos", "tan", "abs"}


class _Builder:
    """SymPy expression from a Python AST, node by node (never ``eval``)."""

    def __init__(self, sympy: Any, max_exponent: float) -> None:
        self.sp = sympy
        self.max_exponent = max_exponent

    def build(self, node: ast.AST) -> Any:
        sp = self.sp
        if isinstance(node, ast.Expression):
            return self.build(node.body)
        if isinstance(node, ast.Tuple):
            return tuple(self.build(e) for e in node.elts)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            if isinstance(node.value, float):
                if not math.isfinite(node.value):
                    raise _NotMath("non-finite number")
                return sp.Rational(repr(node.value))
            return sp.Integer(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = self.build(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = self.build(node.left), self.build(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                return a / b
            if isinstance(node.op, ast.Pow):
                if b.is_number and abs(complex(b)) > self.max_exponent:
                    raise _NotMath("exponent too large")
                return a**b
            raise _NotMath(f"operator {type(node.op).__name__}")
        if isinstance(node, ast.Name):
            if node.id == "pi":
                return sp.pi
            if node.id == "e":
                return sp.E
            if len(node.id) == 1:
                return sp.Symbol(node.id)
            raise _NotMath(f"name {node.id!r}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCS
            and len(node.args) == 1
            and not node.keywords
        ):
            fn = {"abs": sp.Abs}.get(node.func.id) or getattr(sp, node.func.id)
            return fn(self.build(node.args[0]))
        raise _NotMath(f"unsupported syntax {type(node).__name__}")


def _alarm_usable() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0  # someone else's timer is running: leave it alone
    )


def _limited(fn: Any, seconds: float) -> Any:
    """``fn()`` under ``seconds``: a SIGALRM timer in the main thread, else a helper thread
    stopped by an asynchronous exception (see the module docstring); _TimedOut on expiry."""
    if seconds <= 0:
        return fn()
    if _alarm_usable():
        with _time_limit(seconds):
            return fn()
    try:
        return call_with_timeout(fn, seconds)
    except CallTimedOut:
        raise _TimedOut() from None


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """SIGALRM-based limit in the main thread; no-op elsewhere (:func:`_limited` covers those)."""
    if seconds <= 0 or not _alarm_usable():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _TimedOut()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class MathEquiv(Reward):
    name = "math_equiv"
    description = "1 if the final answer (<answer>, \\boxed{} or last number) equals the reference (numeric/sympy)"

    def __init__(
        self,
        *,
        answer_tag: str | None = "answer",
        tolerance: float = 1e-9,
        time_limit: float = 2.0,
        max_chars: int = 200,
        max_exponent: float = 1000.0,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        self.answer_tag = answer_tag or None
        self.tolerance = float(tolerance)
        self.time_limit = float(time_limit)
        self.max_chars = int(max_chars)
        self.max_exponent = float(max_exponent)

    def compute(self, sample: Sample) -> float | Scored:
        reference = reference_of(sample)
        ref_text = reference if isinstance(reference, str) else str(reference)
        if "\\boxed" in ref_text or "<answer>" in ref_text:
            ref_text = final_answer(ref_text, self.answer_tag)
        answer = final_answer(sample.completion, self.answer_tag)
        # Imported outside the limit: the first import alone can take longer than it under load.
        import sympy  # noqa: F401

        try:
            return 1.0 if _limited(lambda: self.equivalent(answer, ref_text), self.time_limit) else 0.0
        except _TimedOut:
            return Scored(0.0, note=f"sympy comparison exceeded {self.time_limit:g} s")

    def equivalent(self, answer: str, reference: str) -> bool:
        a, b = normalize_math(answer), normalize_math(reference)
        if a == b:
            return True
        if not a or not b or len(a) > self.max_chars or len(b) > self.max_chars:
            return False
        try:
            ea, eb = self._parse(a), self._parse(b)
        except _NotMath:
            return False
        if isinstance(ea, tuple) or isinstance(eb, tuple):
            ea = ea if isinstance(ea, tuple) else (ea,)
            eb = eb if isinstance(eb, tuple) else (eb,)
            return len(ea) == len(eb) and all(self._same(x, y) for x, y in zip(ea, eb))
        return self._same(ea, eb)

    def _parse(self, text: str) -> Any:
        import sympy  # lazy: keeps `import rewardlab.rewards` fast

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)
                tree = ast.parse(latex_to_python(text), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise _NotMath("not an expression") from None
        try:
            return _Builder(sympy, self.max_exponent).build(tree)
        except (TypeError, ValueError, ZeroDivisionError, RecursionError, AttributeError) as e:
            raise _NotMath(str(e)) from None

    def _numeric_close(self, x: Any, y: Any) -> bool | None:
        try:
            cx, cy = complex(x.evalf(30)), complex(y.evalf(30))
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(cx.real) and math.isfinite(cx.imag) and math.isfinite(cy.real) and math.isfinite(cy.imag)):
            return None
        return abs(cx - cy) <= self.tolerance * max(1.0, abs(cy))

    def _same(self, x: Any, y: Any) -> bool:
        import sympy

        if not isinstance(x, sympy.Basic) or not isinstance(y, sympy.Basic):
            return False
        symbols = sorted(x.free_symbols | y.free_symbols, key=str)
        if not symbols:
            close = self._numeric_close(x, y)
            if close is not None:
                return close
        else:
            rng = random.Random(0)
            verdicts = []
            for _ in range(3):
                point = {s: sympy.Rational(rng.randint(1, 97), rng.randint(1, 13)) for s in symbols}
                verdicts.append(self._numeric_close(x.subs(point), y.subs(point)))
            if any(v is False for v in verdicts):
                return False
            if all(verdicts):
                return True
        return sympy.simplify(x - y) == 0
