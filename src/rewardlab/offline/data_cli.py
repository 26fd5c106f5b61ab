"""``rewardlab data generate`` / ``rewardlab data info``: the command-line face of offline/generate.py.

The CLI attaches these with ``register(subparsers)``; each handler returns an exit code and raises
:class:`rewardlab.errors.RewardlabError` for bad input (the CLI prints its message).
"""

from __future__ import annotations

import argparse
import json
import re


def cmd_generate(args: argparse.Namespace) -> int:
    from rewardlab.offline.generate import generate

    path = generate(
        args.env, args.split, args.steps, args.out, policy_run=args.policy, seed=args.seed,
        noise=args.noise, ref_episodes=args.ref_episodes, root=args.root,
    )  # fmt: skip
    print(f"Wrote Minari dataset {args.out!r} to {path}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from rewardlab.offline.generate import info

    plot = args.plot
    if plot is None:
        plot = re.sub(r"[^A-Za-z0-9._-]+", "_", args.name.strip("/")) + "-returns.png"
    result = info(args.name, plot=None if args.no_plot else plot)
    if args.json:
        print(json.dumps(result))
        return 0
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command (with ``generate`` and ``info``) to the CLI's subparsers."""
    p = subparsers.add_parser("data", help="offline datasets (Minari format): generate, info")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    q = dsub.add_parser("generate", help="run a policy in an env and write a Minari dataset")
    q.add_argument("--env", required=True, help="Gymnasium id, e.g. Pendulum-v1")
    q.add_argument(
        "--policy",
        metavar="RUN_DIR",
        help="a trained rewardlab run on that env, or `builtin` (a hand-written controller, offline/experts.py)",
    )
    q.add_argument("--split", required=True, choices=["random", "policy", "mixed", "replay"])
    q.add_argument("--steps", type=int, required=True, help="environment steps (transitions) to record")
    q.add_argument(
        "--out", required=True, metavar="NAME", help="Minari dataset id, e.g. rewardlab/pendulum/expert-v0"
    )
    q.add_argument("--seed", type=int, default=0, help="episode i resets with seed+i")
    q.add_argument("--noise", type=float, default=0.0,
                   help="policy action noise: std x half the action range (Box) or epsilon (Discrete)")  # fmt: skip
    q.add_argument(
        "--ref-episodes", type=int, default=100, help="episodes for each reference score (Minari: 100)"
    )
    q.add_argument("--root", help="datasets directory (default $MINARI_DATASETS_PATH or ~/.minari/datasets)")
    q.set_defaults(func=cmd_generate)

    q = dsub.add_parser("info", help="episodes, steps, returns and a return histogram of a dataset")
    q.add_argument("name", metavar="NAME", help="Minari dataset id or dataset directory")
    q.add_argument("--plot", help="histogram PNG path (default ./<NAME>-returns.png)")
    q.add_argument("--no-plot", action="store_true", help="no histogram")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=cmd_info)
