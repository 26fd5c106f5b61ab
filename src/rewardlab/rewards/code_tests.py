"""``code_tests``: the fraction of unit tests the completion's code passes, run in a sandboxed child.

The execution reward of code RLVR (e.g. verl ``verl/utils/reward_score/prime_code/``, rLLM
``rllm/rewards/code_reward.py``, TRL's ``code_reward`` via E2B); here everything runs locally in a
child process, never in the trainer's own process:

* The code is the last fenced code block of the completion, else the whole completion. The
  reference is Python test code: a list of snippets (one test each), or one string, which is
  split into one test per top-level ``assert`` (statements before an assert run with it, in
  order, in the shared namespace).
* Each sample runs in ``python -I`` in a fresh temporary working directory (deleted afterwards)
  with a minimal environment, in its own session, killed (the whole process group) after
  ``timeout`` wall-clock seconds. ``resource.setrlimit`` caps address space (``memory_mb``), CPU
  time, file size (16 MB) and core dumps.
* No network: when ``unshare --user --net`` works on the machine the child runs in an empty
  network namespace; in every case an audit hook (:func:`sys.addaudithook`) in the child raises
  on socket creation and connection, on process creation (subprocess, ``os.system``, exec,
  spawn, fork), on signals to other processes and on ``ctypes``.
* Reward = passed / number of tests, in [0, 1]. A test that hangs or exhausts memory fails, and
  so do the ones after it; code that raises on import fails every test.

This is isolation against accidents and runaway code, not a security boundary against code
written to escape (it runs as the same user; a deliberate program can still reach the result
channel or the file system). For adversarial settings run the trainer in a container.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Reward, RewardResult, Sample, Scored, as_samples, reference_of
from rewardlab.rewards.parsing import code_from_completion

CHILD = Path(__file__).with_name("_code_child.py")


@lru_cache(maxsize=1)
def network_namespace_available() -> bool:
    """Whether ``unshare --user --net`` can start a process here (checked once)."""
    exe = shutil.which("unshare")
    if exe is None:
        return False
    try:
        r = subprocess.run([exe, "--user", "--net", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def split_tests(reference: str | Sequence[str]) -> list[str]:
    """Test snippets from a list, or from test code split at each top-level ``assert``."""
    if not isinstance(reference, str):
        tests = [str(t) for t in reference]
        if not tests:
            raise ValueError("the reference has no tests")
        return tests
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


class CodeTests(Reward):
    name = "code_tests"
    description = "fraction of the reference tests the completion's code passes (sandboxed subprocess)"

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        memory_mb: int = 512,
        workers: int = 2,
        use_unshare: bool = True,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        if timeout <= 0 or memory_mb < 64 or workers < 1:
            raise ConfigError(
                f"{self.name}: need timeout > 0, memory_mb >= 64 and workers >= 1, got {timeout}, "
                f"{memory_mb} and {workers}"
            )
        self.timeout, self.memory_mb, self.workers = float(timeout), int(memory_mb), int(workers)
        self.use_unshare = use_unshare

    def command(self, payload_path: str) -> list[str]:
        cmd = [sys.executable, "-I", str(CHILD), payload_path]
        if self.use_unshare and network_namespace_available():
            cmd = [shutil.which("unshare") or "unshare", "--user", "--net", "--", *cmd]
        return cmd

    def run(self, code: str, tests: list[str]) -> tuple[int, str]:
        """(tests passed, note) for one program."""
        with tempfile.TemporaryDirectory(prefix="rewardlab-code-") as tmp:
            payload = os.path.join(tmp, ".payload.json")
            with open(payload, "w", encoding="utf-8") as f:
                json.dump(
                    {
                        "solution": code,
                        "tests": tests,
                        "memory_mb": self.memory_mb,
                        "cpu_seconds": math.ceil(self.timeout) + 1,
                    },
                    f,
                )
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8"}
            env.update({k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
            proc = subprocess.Popen(
                self.command(payload),
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            note = ""
            try:
                out, _ = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
                note = f"timed out after {self.timeout:g} s"
        lines = out.decode(errors="replace").split()
        if "S" in lines[::2] and not note:
            note = "the code raised before the tests ran"
        passed = sum(1 for i in range(0, len(lines) - 1, 2) if lines[i] != "S" and lines[i + 1] == "PASS")
        if not note and proc.returncode not in (0, None) and len(lines) // 2 < len(tests):
            note = f"the test process died (exit status {proc.returncode})"
        return passed, note

    def _one(self, index: int, sample: Sample) -> Scored:
        try:
            tests = split_tests(reference_of(sample))
        except ValueError as e:
            return self.error(index, sample, f"has a bad reference: {e}", e)
        code = code_from_completion(sample.completion)
        if not code.strip():
            return self.malformed("no code in the completion")
        passed, note = self.run(code, tests)
        return Scored(passed / len(tests), note=note)

    def compute(self, sample: Sample) -> Scored:  # one sample; score() runs them in parallel
        return self._one(0, sample)

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            scored = list(pool.map(self._one, range(len(samples)), samples))
        return self.assemble(samples, scored)
