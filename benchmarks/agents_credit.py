"""Credit rules on a tabular softmax policy (the mechanism tests of
``tests/agents/test_agents_credit.py``, over more seeds and all four rules).

    PYTHONPATH=src python benchmarks/agents_credit.py [--seeds 4]

Prints, per rule, the steps a 6-turn chain of independent choices needs until P(all right) >= 0.9
and, on the stop-or-go env (stop: r = 1; go on: return 1.5 in expectation), P(go) after 150 steps.
"""

import argparse
import importlib.util
import pathlib

import numpy as np
import torch

torch.set_num_threads(1)
_path = pathlib.Path(__file__).resolve().parents[1] / "tests" / "agents" / "test_agents_credit.py"
_spec = importlib.util.spec_from_file_location("agents_credit_tests", _path)
t = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=4)
    seeds = range(ap.parse_args().seeds)
    for mode in ("episode", "return_to_go", "mt_grpo", "gigpo"):
        chain = [t._chain_steps(mode, s) for s in seeds]
        go = [float(t._p_go(mode, s)) for s in seeds]
        print(
            f"{mode:13s} chain steps {chain} mean {np.mean(chain):.1f}   stop-or-go P(go) mean {np.mean(go):.3f}"
        )


if __name__ == "__main__":
    main()
