"""Run a command and report what it and every process under it used: peak summed RSS and PSS, and
CPU-seconds (each process's utime + stime, last seen), sampled from /proc every 0.25 s (Linux).

    python benchmarks/proc_tree_usage.py python -m pytest -m ray -q tests/scale

PSS counts shared pages once, so it is the fair sum for Ray's many processes; RSS counts them in
every process. A process that ends between two samples loses at most its last 0.25 s of CPU.
The Ray tests' budget in docs/scale_out.md was measured this way.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, CPU ticks so far) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
            out[int(d)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


def memory_kib(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def command_of(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            words = f.read().split("\0")
    except OSError:
        return "?"
    return " ".join(w for w in words if w and not w.startswith("--"))[:70]


def main() -> int:
    start = time.time()
    child = subprocess.Popen(sys.argv[1:])
    cpu: dict[int, int] = {}
    names: dict[int, str] = {}
    peak_rss = peak_pss = 0
    while child.poll() is None:
        table = processes()
        tree, frontier = set(), {child.pid}
        while frontier:
            tree |= frontier
            frontier = {p for p, (parent, _) in table.items() if parent in frontier and p not in tree}
        rss = pss = 0
        for pid in tree:
            r, p = memory_kib(pid)
            rss, pss = rss + r, pss + p
            if pid in table:
                cpu[pid] = table[pid][1]
                names.setdefault(pid, command_of(pid))
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.25)
    by_command, count = collections.Counter(), collections.Counter()
    for pid, ticks in cpu.items():
        by_command[names[pid]] += ticks / TICK
        count[names[pid]] += 1
    print(
        f"peak PSS sum {peak_pss / 1024:.0f} MiB, peak RSS sum {peak_rss / 1024:.0f} MiB, "
        f"CPU {sum(cpu.values()) / TICK:.1f} s over {len(cpu)} processes, wall {time.time() - start:.1f} s, "
        f"load average {os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    for command, seconds in by_command.most_common(10):
        print(f"  CPU {seconds:6.1f} s  x{count[command]:<3d} {command}", file=sys.stderr)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
