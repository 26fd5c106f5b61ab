"""Child process of ``code_tests``: limits itself, blocks network and process creation, runs tests.

Run as ``python -I _code_child.py PAYLOAD.json`` in a fresh temporary directory. It does not
import rewardlab. Protocol: one line ``"<index> PASS|FAIL"`` per test on the original stdout,
written as each test finishes (so a test that hangs still leaves the earlier results); the
solution's own stdout/stderr go to /dev/null. ``"S FAIL"`` means the solution itself raised.
"""

import json
import os
import resource
import sys

BLOCKED = (
    "socket.",
    "subprocess.Popen",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.kill",
    "os.killpg",
    "ctypes.",
    "_posixsubprocess",
    "pty.spawn",
)


def _audit(event, args):
    if event.startswith(BLOCKED):
        raise PermissionError(f"{event} is not allowed inside code_tests")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        payload = json.load(f)
    os.unlink(sys.argv[1])
    mem = payload["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = payload["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024 * 1024, 16 * 1024 * 1024))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)

    def report(line):
        os.write(out, (line + "\n").encode())

    sys.addaudithook(_audit)
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(payload["solution"], "<solution>", "exec"), namespace)
    except BaseException:  # noqa: BLE001 - anything the solution does is a failure, never a crash
        report("S FAIL")
        return
    for i, test in enumerate(payload["tests"]):
        try:
            exec(compile(test, f"<test {i}>", "exec"), namespace)
            report(f"{i} PASS")
        except BaseException:  # noqa: BLE001
            report(f"{i} FAIL")


main()
