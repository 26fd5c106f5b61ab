"""Per-sample cost of the ``code_tests`` reward in each isolation mode this machine allows.

    python benchmarks/code_tests_cost.py [--samples 10] [--repeats 3]

Wall-clock and CPU (this process plus its waited-for children: the sandboxed test processes)
per sample, median over repeats, for a 4-assert problem scored with ``workers=1``. Wall time on
a busy machine is mostly queueing; the CPU column is the comparable one.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from rewardlab.rewards import Sample, get
from rewardlab.rewards.code_tests import ISOLATION, isolation_available, isolation_works

TESTS = "assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\nassert add(2, 2) == 4"


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    available = isolation_available()
    modes = [m for m in ISOLATION[1:] if isolation_works(m)]
    samples = [
        Sample(completion="def add(a, b):\n    return a + b", reference=TESTS) for _ in range(args.samples)
    ]
    print(f"strongest isolation here: {available}")
    for mode in modes:
        reward = get("code_tests", workers=1, isolation=mode)
        reward(samples[:1])  # warm-up
        wall, cpu = [], []
        for _ in range(args.repeats):
            c0, t0 = cpu_seconds(), time.perf_counter()
            scores = reward(samples)
            wall.append((time.perf_counter() - t0) / len(samples) * 1000)
            cpu.append((cpu_seconds() - c0) / len(samples) * 1000)
            assert scores.mean() == 1.0
        print(
            f"{mode:>9}: wall {statistics.median(wall):.0f} ms/sample, CPU {statistics.median(cpu):.0f} ms/sample"
        )


if __name__ == "__main__":
    main()
