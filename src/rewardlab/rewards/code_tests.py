"""``code_tests``: the fraction of unit tests the completion's code passes, judged by the trainer.

The execution reward of code RLVR (e.g. verl ``verl/utils/reward_score/prime_code/``, rLLM
``rllm/rewards/code_reward.py``, TRL's ``code_reward`` via E2B). The code it scores is written by
the policy being trained, so it is treated as an adversary that will learn any shortcut to a
high score (see ``docs/code_tests_sandbox.md`` for the threat model and each measured exploit).

* The code is the last fenced code block of the completion, else the whole completion. The
  reference is Python test code: a list of snippets (one test each), or one string, split into
  one test per top-level ``assert`` (statements before an assert run with it).
* **Verdicts are made here, never in the child.** Each ``assert`` of a test is rewritten before
  the child sees it: ``assert f(x) == 3`` becomes a call that sends the *value* of ``f(x)`` to
  this process, which compares it with ``3``; literal operands (``3``, ``[1, 2]``, ``None``) and a
  leading ``not`` never leave this process, so the child cannot learn what would pass. Values
  cross as plain data (None, bool, int, float, complex, str, bytes, list, tuple, dict, set,
  Fraction, Decimal; subclasses that keep their base's ``__eq__`` such as namedtuple and
  IntEnum, collections containers and numpy values are converted); any other object (e.g.
  one whose ``__eq__`` always returns True) is a violation. Every
  message carries the nonce of the current request, must be the one the protocol expects (so
  result lines written ahead of time, ``os.write(1, b"0 PASS\\n")``, are a violation) and is read
  with a size cap (``max_message_kb``). A test passes when each of its top-level asserts was
  checked here exactly once and passed, every nested assert it reached passed, and it finished.
* **Isolation**, strongest the machine allows (``isolation="auto"``; the mode in use is
  :func:`isolation_available`): ``"namespace"``: new user, mount, network, PID and IPC
  namespaces, the whole file system read-only except the sample's temporary directory, a fresh
  /proc showing only the child, every capability dropped. ``"user"`` (root without namespaces):
  the child runs as ``nobody`` (uid/gid 65534). ``"process"``: same user as the trainer.
  In every mode: no inherited environment variables; its own session, killed (the whole
  process group) after ``timeout`` wall-clock seconds; limits on address space
  (``memory_mb``), CPU time, file size and core dumps; and an audit hook
  (:func:`sys.addaudithook`) that refuses network, process creation, signals, ctypes, tracing,
  frame and gc introspection, opening files outside the interpreter's own directories and the
  temporary directory, and writing outside the temporary directory.
* Reward = passed / number of tests, in [0, 1]. A test that hangs or exhausts memory fails, and
  so do the ones after it; code that raises on import fails every test. A **violation** (a
  refused operation, a forged or oversized message, a non-plain value, ``sys.exit`` or a clean
  exit in the middle of the protocol) scores 0 and is counted under ``code_tests/violations``.

What is *not* isolated: in ``"user"`` and ``"process"`` modes the kernel does not stop writes
to world-writable places (``/tmp``) or reads of what the user may read; only the audit hook
does, and an audit hook is not a security boundary (code that escapes the interpreter, e.g.
through a bug in a C extension, is held only by the kernel-level measures of its mode). Tests
without a literal operand (``assert is_sorted(f(x))``) are compared here too, but their
expected value (truthy) can be guessed by a program that takes over the child.
"""

from __future__ import annotations

import ast
import contextlib
import decimal
import fractions
import json
import math
import operator
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards.base import Reward, RewardResult, Sample, Scored, as_samples, reference_of
from rewardlab.rewards.parsing import code_from_completion

CHILD = Path(__file__).with_name("_code_child.py")
ISOLATION = ("auto", "namespace", "user", "process")
NOBODY = 65534
CHANNEL_BROKEN = 86  # the child's exit status when the solution closed or replaced its pipes
UNSHARE_FLAGS = ("--user", "--map-root-user", "--mount", "--net", "--pid", "--ipc", "--fork", "--mount-proc")
# Directories a solution may read besides the interpreter's own (time zone data for datetime).
EXTRA_READ_ROOTS = ("/usr/share/zoneinfo",)
COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


def split_tests(reference: Any) -> list[str]:
    """Test snippets from a list, or from test code split at each top-level ``assert``."""
    if isinstance(reference, list | tuple):
        bad = next((t for t in reference if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(
                f"a list reference must hold test snippets (strings), but it holds {bad!r} "
                f"(type {type(bad).__name__})"
            )
        if not reference:
            raise ValueError("the reference has no tests")
        return list(reference)
    if not isinstance(reference, str):
        raise ValueError(
            f"the reference is {_short(reference)} (type {type(reference).__name__}); code_tests needs Python "
            "test code: a string of asserts (e.g. 'assert add(1, 2) == 3') or a list of such strings"
        )
    try:
        tree = ast.parse(reference)
    except SyntaxError as e:
        raise ValueError(f"the reference tests are not valid Python: {e}") from None
    tests, pending = [], []
    for stmt in tree.body:
        pending.append(ast.get_source_segment(reference, stmt) or ast.unparse(stmt))
        if isinstance(stmt, ast.Assert):
            tests.append("\n".join(pending))
            pending = []
    if pending and tests:
        tests[-1] += "\n" + "\n".join(pending)
    elif pending:
        tests.append("\n".join(pending))
    if not tests:
        raise ValueError("the reference has no tests")
    return tests


def _short(value: Any, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


# ---- asserts rewritten into checks made in this process ---------------------------------------
@dataclass
class Check:
    """One ``assert``: which operands the child evaluates and how they are compared here."""

    ops: list[type[ast.cmpop]]  # empty: a truth test of the one operand
    operands: list[tuple[str, Any]]  # ("lit", value) kept here, or ("child", j): j-th value sent
    negate: bool = False
    top_level: bool = False

    def judge(self, values: list[Any]) -> bool:
        resolved = [values[x] if kind == "child" else x for kind, x in self.operands]
        try:
            if not self.ops:
                result = bool(resolved[0])
            else:
                result = all(COMPARE[op](a, b) for op, a, b in zip(self.ops, resolved, resolved[1:]))
        except Exception:  # noqa: BLE001 - e.g. 1 < "a": the assert fails, as it would in Python
            return False
        return result != self.negate


@dataclass
class CompiledTest:
    code: str  # what the child runs: the test with each assert replaced by a check call
    checks: list[Check] = field(default_factory=list)

    @property
    def required(self) -> set[int]:
        return {i for i, c in enumerate(self.checks) if c.top_level}


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def compile_test(source: str) -> CompiledTest:
    """Rewrite every ``assert`` (top-level or nested) into ``__rewardlab_check__(site, *values)``."""
    tree = ast.parse(source)
    checks: list[Check] = []
    top = {id(s) for s in tree.body if isinstance(s, ast.Assert)}

    class Rewrite(ast.NodeTransformer):
        def visit_Assert(self, node: ast.Assert) -> ast.stmt:
            expr, negate = node.test, False
            while isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
                expr, negate = expr.operand, not negate
            if isinstance(expr, ast.Compare):
                ops, nodes = [type(o) for o in expr.ops], [expr.left, *expr.comparators]
            else:
                ops, nodes = [], [expr]
            operands: list[tuple[str, Any]] = []
            sent: list[ast.expr] = []
            for n in nodes:
                ok, value = _literal(n)
                if ok:
                    operands.append(("lit", value))
                else:
                    operands.append(("child", len(sent)))
                    sent.append(n)
            checks.append(Check(ops, operands, negate, top_level=id(node) in top))
            call = ast.Call(
                ast.Name("__rewardlab_check__", ast.Load()), [ast.Constant(len(checks) - 1), *sent], []
            )
            return ast.copy_location(ast.Expr(call), node)

    tree = ast.fix_missing_locations(Rewrite().visit(tree))
    return CompiledTest(ast.unparse(tree), checks)


def decode(value: Any, depth: int = 0) -> Any:
    """The inverse of the child's ``encode``; anything else is a protocol violation (ValueError)."""
    if depth > 101:
        raise ValueError("nested too deep")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [decode(v, depth + 1) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((tag, body),) = value.items()
        if tag == "b" and isinstance(body, str):
            return bytes.fromhex(body)
        if tag == "decimal" and isinstance(body, str) and len(body) < 10_000:
            return decimal.Decimal(body)
        if tag == "fraction" and isinstance(body, list) and [type(v) for v in body] == [int, int]:
            return fractions.Fraction(*body)
        if isinstance(body, list):
            items = [decode(v, depth + 1) for v in body]
            if tag == "t":
                return tuple(items)
            if tag == "s":
                return set(items)
            if tag == "fs":
                return frozenset(items)
            if tag == "d" and all(isinstance(kv, list) and len(kv) == 2 for kv in items):
                return {k: v for k, v in items}
            if tag == "c" and len(items) == 2 and all(type(v) is float for v in items):
                return complex(*items)
    raise ValueError(f"not an encoded plain value: {_short(value)}")


# ---- where the machine allows what -------------------------------------------------------------
@cache
def isolation_works(mode: str) -> bool:
    """Whether ``mode`` works here: the real child is run in it once per process on a one-test
    program. A mode whose set-up fails (no ``unshare``, user namespaces disabled, no
    ``mount_setattr``, an interpreter that ``nobody`` may not run) does not answer."""
    if mode == "process":
        return True
    if mode == "namespace" and (sys.platform != "linux" or shutil.which("unshare") is None):
        return False
    if mode == "user" and not (hasattr(os, "geteuid") and os.geteuid() == 0):
        return False
    probe = CodeTests(isolation="process", timeout=20.0)
    probe.isolation = mode
    try:
        out = probe.run("x = 1", ["assert x == 1"])
    except (OSError, subprocess.SubprocessError, RewardlabError):
        return False
    return out.passed == 1 and not out.violation


def isolation_available() -> str:
    """The strongest isolation this machine allows: "namespace", "user" or "process"."""
    return next(mode for mode in ISOLATION[1:] if isolation_works(mode))


@dataclass
class Outcome:
    passed: int
    note: str = ""
    violation: bool = False


class _Violation(Exception):  # noqa: N818 - raised for what the child must not do
    pass


class _Channel:
    """Line-oriented, size-capped, deadline-bound I/O with the child over its stdin/stdout."""

    def __init__(self, proc: subprocess.Popen, deadline: float, cap: int) -> None:
        self.proc, self.deadline, self.cap = proc, deadline, cap
        self.buf = b""
        self.out_fd = proc.stdout.fileno()
        self.in_fd = proc.stdin.fileno()
        os.set_blocking(self.in_fd, False)

    def send(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        while data:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _, ready, _ = select.select([], [self.in_fd], [], left)
            if ready:
                try:
                    data = data[os.write(self.in_fd, data) :]
                except BlockingIOError:
                    continue
                except (BrokenPipeError, OSError):
                    raise EOFError from None

    def receive(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            if len(self.buf) > self.cap:
                raise _Violation(f"sent a message over {self.cap // 1024} KB (the cap is max_message_kb)")
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.out_fd], [], [], left)
            if ready:
                chunk = os.read(self.out_fd, 65536)
                if not chunk:
                    raise EOFError
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        if len(line) > self.cap:
            raise _Violation(f"sent a message over {self.cap // 1024} KB (the cap is max_message_kb)")
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):
            raise _Violation(f"wrote something that is not a harness message: {_short(line)}") from None
        if not isinstance(msg, dict):
            raise _Violation(f"wrote something that is not a harness message: {_short(line)}")
        return msg


class CodeTests(Reward):
    name = "code_tests"
    description = (
        "fraction of the reference tests the completion's code passes (sandboxed, judged by the trainer)"
    )
    counters = ("violations",)

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        memory_mb: int = 512,
        workers: int = 2,
        isolation: str = "auto",
        max_message_kb: int = 1024,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        if not (isinstance(timeout, int | float) and timeout > 0) or memory_mb < 64 or workers < 1:
            raise ConfigError(
                f"{self.name}: need timeout > 0, memory_mb >= 64 and workers >= 1, got {timeout!r}, "
                f"{memory_mb!r} and {workers!r}"
            )
        if isolation not in ISOLATION:
            raise ConfigError(
                f"{self.name}: isolation must be one of {', '.join(ISOLATION)}, got {isolation!r}"
            )
        if not (isinstance(max_message_kb, int) and max_message_kb >= 1):
            raise ConfigError(f"{self.name}: max_message_kb must be an integer >= 1, got {max_message_kb!r}")
        if isolation in ("namespace", "user") and not isolation_works(isolation):
            needs = (
                "`unshare " + " ".join(UNSHARE_FLAGS) + "` and mount_setattr (Linux >= 5.12)"
                if isolation == "namespace"
                else "root, and an interpreter that the user nobody may run"
            )
            raise ConfigError(
                f"{self.name}: isolation={isolation!r} does not work on this machine (it needs {needs}); "
                f"the strongest that works here is {isolation_available()!r} (see docs/code_tests_sandbox.md)"
            )
        self.timeout, self.memory_mb, self.workers = float(timeout), int(memory_mb), int(workers)
        self.max_message_kb = max_message_kb
        self.isolation = isolation

    def mode(self) -> str:
        return isolation_available() if self.isolation == "auto" else self.isolation

    def _popen(self, tmp: str, mode: str) -> subprocess.Popen:
        cmd = [sys.executable, "-I", str(CHILD)]
        kwargs: dict[str, Any] = {}
        if mode == "namespace":
            cmd = [shutil.which("unshare") or "unshare", *UNSHARE_FLAGS, "--", *cmd]
        elif mode == "user":
            os.chown(tmp, NOBODY, NOBODY)
            kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        # Nothing inherited from the trainer's environment (API keys, tokens, paths).
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        env.update({k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
        return subprocess.Popen(
            cmd,
            cwd=tmp,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            **kwargs,
        )

    def run(self, code: str, tests: list[str]) -> Outcome:
        """Run one program against its tests; the verdict of each assert is made here."""
        compiled = [compile_test(t) for t in tests]
        mode = self.mode()
        tmp = tempfile.mkdtemp(prefix="rewardlab-code-")
        proc = None
        passed, note = 0, ""
        try:
            try:
                proc = self._popen(tmp, mode)
            except OSError as e:
                raise RewardlabError(
                    f"{self.name}: could not start the test process (isolation {mode!r}): {e}"
                ) from e
            channel = _Channel(proc, time.monotonic() + self.timeout, self.max_message_kb * 1024)
            nonce = secrets.token_hex(8)
            channel.send(
                {
                    "n": nonce,
                    "solution": code,
                    "tmp": tmp,
                    "sandbox": mode == "namespace",
                    "read_ok": list(EXTRA_READ_ROOTS),
                    "limits": {
                        "memory_mb": self.memory_mb,
                        "cpu_seconds": math.ceil(self.timeout) + 1,
                        "file_mb": 16,
                    },
                }
            )
            error = self._finished(channel.receive(), nonce, "load")
            if error is not None:
                return Outcome(0, f"the code raised before the tests ran ({error})")
            for test in compiled:
                nonce = secrets.token_hex(8)
                channel.send({"n": nonce, "code": test.code})
                if self._one_test(channel, nonce, test):
                    passed += 1
        except _Violation as e:
            return Outcome(0, f"violation: the code {e}", violation=True)
        except TimeoutError:
            note = f"timed out after {self.timeout:g} s"
        except EOFError:
            status = proc.wait() if proc is not None else None
            if status == 0:
                return Outcome(0, "violation: the code exited in the middle of the tests", violation=True)
            if status == CHANNEL_BROKEN:
                return Outcome(
                    0, "violation: the code closed or replaced the test harness's pipes", violation=True
                )
            note = f"the test process died (exit status {status})"
        finally:
            if proc is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                for stream in (proc.stdin, proc.stdout):
                    with contextlib.suppress(OSError):
                        stream.close()
            shutil.rmtree(tmp, ignore_errors=True)
        return Outcome(passed, note)

    @staticmethod
    def _finished(msg: dict[str, Any], nonce: str, phase: str) -> str | None:
        """The error of a load/done message (None when it ran cleanly); violations raise."""
        if msg.get("n") != nonce or msg.get("phase") != phase or not isinstance(msg.get("ok"), bool):
            raise _Violation(f"wrote a message out of turn: {_short(msg)}")
        if msg.get("blocked"):
            raise _Violation(f"tried {', '.join(map(str, msg['blocked'][:3]))}")
        error = msg.get("error")
        if isinstance(error, str) and error.startswith(("SystemExit", "KeyboardInterrupt")):
            raise _Violation(f"tried to leave the test harness ({error})")
        return None if msg["ok"] else str(error)

    def _one_test(self, channel: _Channel, nonce: str, test: CompiledTest) -> bool:
        ok, seen = True, []
        while True:
            msg = channel.receive()
            if "site" not in msg:
                error = self._finished(msg, nonce, "done")
                if error is None and not test.required <= set(seen):
                    # Top-level asserts run in order unless something raises: a clean finish
                    # without them means the check function was replaced.
                    raise _Violation("skipped a top-level assert of the test (replaced the check)")
                return ok and error is None and (bool(seen) or not test.checks)
            site = msg.get("site")
            if msg.get("n") != nonce or not isinstance(site, int) or not 0 <= site < len(test.checks):
                raise _Violation(f"wrote a check out of turn: {_short(msg)}")
            check = test.checks[site]
            if "bad" in msg:
                raise _Violation(f"returned a value that is not plain data ({_short(msg['bad'])})")
            values = msg.get("values")
            n_child = sum(kind == "child" for kind, _ in check.operands)
            if not isinstance(values, list) or len(values) != n_child:
                raise _Violation(f"wrote a malformed check: {_short(msg)}")
            try:
                decoded = [decode(v) for v in values]
            except (ValueError, TypeError, RecursionError, ZeroDivisionError, ArithmeticError) as e:
                raise _Violation(f"sent a value that is not plain data ({e})") from None
            verdict = check.judge(decoded)
            if check.top_level and site in seen:
                raise _Violation("answered a top-level assert twice")
            seen.append(site)
            ok = ok and verdict
            channel.send({"n": nonce, "pass": verdict})

    def _one(self, index: int, sample: Sample) -> Scored:
        try:
            tests = split_tests(reference_of(sample))
            for t in tests:
                ast.parse(t)
        except (ValueError, SyntaxError) as e:
            return self.error(index, sample, f"has a bad reference: {e}", e)
        code = code_from_completion(sample.completion)
        if not code.strip():
            return self.malformed("no code in the completion")
        out = self.run(code, tests)
        if out.violation:
            return Scored(0.0, note=out.note, counts={"violations": 1})
        return Scored(out.passed / len(tests), note=out.note)

    def compute(self, sample: Sample) -> Scored:  # one sample; score() runs them in parallel
        return self._one(0, sample)

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            scored = list(pool.map(self._one, range(len(samples)), samples))
        return self.assemble(samples, scored)
