"""Update-rule parity: rewardlab's IQL against d3rlpy 2.8.1's IQLImpl, weight for weight.

Same initial weights, same minibatches, K gradient steps each; prints, per update, the largest
absolute difference of each module's parameters (policy, critics, target critics, value) and of
q_loss / v_loss / actor_loss. The two libraries need different virtualenvs (d3rlpy pins
gymnasium 1.0.0), so d3rlpy runs as a child process (benchmarks/_d3rlpy_parity_child.py) and the
two exchange torch.save'd files in a temporary directory.

The dataset is synthetic, built here (no downloads): obs dim 3, one action in [-2, 2] like
Pendulum, 5 episodes of 200 steps (4 truncated, 1 terminated, so the terminal mask is exercised),
random actions and rewards. rewardlab reads it from a Minari file as any run does; the batches
are drawn by rewardlab's own sampler and handed to d3rlpy in env units (raw actions), so d3rlpy's
MinMaxActionScaler does its own [-1, 1] mapping.

    PYTHONPATH=src python benchmarks/offline_update_parity.py                 # 10 updates
    PYTHONPATH=src python benchmarks/offline_update_parity.py --updates 50 --plain-adam

``--plain-adam`` gives rewardlab torch.optim.Adam (the non-fused kernel d3rlpy gets on CPU) instead
of LeanAdam (the fused kernel); ``--bitwise`` also swaps rewardlab's polyak_ (one fused lerp) for
d3rlpy's arithmetic (target * (1 - tau) + tau * source). The two are the same maths, rounded
differently; with both swapped the two libraries should agree bit for bit, which tells float
rounding (amplified over many steps by Adam's normalisation and ReLU kinks) from a real difference.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import rewardlab.offline.iql as iql_module
from rewardlab.offline.dataset import OfflineDataset
from rewardlab.offline.iql import IQL, IQLConfig

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).resolve().parent / "_d3rlpy_parity_child.py"
D3RLPY_PYTHON = ROOT / ".venv-d3rlpy" / "bin" / "python"


def make_dataset(root: Path, episodes: int = 5, length: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    eps = []
    for i in range(episodes):
        terminated = i == episodes - 1
        eps.append({
            "observations": rng.normal(size=(length + 1, 3)).astype(np.float32),
            "actions": rng.uniform(-2, 2, size=(length, 1)).astype(np.float32),
            "rewards": rng.normal(-5, 3, size=length),
            "terminations": np.eye(length, dtype=bool)[-1] & terminated,
            "truncations": np.eye(length, dtype=bool)[-1] & (not terminated),
        })  # fmt: skip
    data = OfflineDataset.from_episodes(
        eps,
        gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
        gym.spaces.Box(-2.0, 2.0, (1,), np.float32),
        env_spec=gym.make("Pendulum-v1").spec.to_json(),
        name="parity",
    )
    return data.to_minari("parity/synthetic-v0", root=root, description="offline_update_parity.py")


# rewardlab nn.Sequential index -> d3rlpy name; the output layer is `_fc` (Q, V) or `_mu` (policy)
def _seq_to_d3(key: str, out: str) -> str:
    idx, kind = key.split(".")
    return {"0": "_encoder._layers.0", "2": "_encoder._layers.2", "4": out}[idx] + "." + kind


def to_d3rlpy(algo: IQL) -> dict[str, dict[str, torch.Tensor]]:
    """rewardlab's modules as d3rlpy's state dicts (policy, q_funcs, targ_q_funcs, value_func)."""
    assert len(algo.config.hidden_sizes) == 2, "the name map assumes two hidden layers"
    policy = {"_logstd": algo.policy.log_std_param}
    policy |= {_seq_to_d3(k, "_mu"): v for k, v in algo.policy.mu.state_dict().items()}

    def ensemble(module) -> dict[str, torch.Tensor]:
        out = {}
        for k, v in module.state_dict().items():  # qs.<i>.<layer>.<weight|bias>
            _, i, rest = k.split(".", 2)
            out[f"{i}.{_seq_to_d3(rest, '_fc')}"] = v
        return out

    value = {_seq_to_d3(k, "_fc"): v for k, v in algo.value.state_dict().items()}
    d = {"policy": policy, "q_funcs": ensemble(algo.critic), "targ_q_funcs": ensemble(algo.critic_target),
         "value_func": value}  # fmt: skip
    return {n: {k: v.detach().clone() for k, v in sd.items()} for n, sd in d.items()}


@torch.no_grad()
def _d3rlpy_soft_sync(targets: list[torch.Tensor], sources: list[torch.Tensor], tau: float) -> None:
    """d3rlpy's soft_sync arithmetic (torch_utility.py): mul_(1 - tau) then add_(tau * source)."""
    for t, s in zip(targets, sources):
        t.mul_(1 - tau)
        t.add_(tau * s)


GROUPS = ("policy", "q_funcs", "targ_q_funcs", "value_func")
LOSSES = ("q_loss", "v_loss", "actor_loss")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--updates", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--hidden", type=int, nargs=2, default=[256, 256])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plain-adam", action="store_true", help="rewardlab uses torch.optim.Adam, not LeanAdam")
    p.add_argument(
        "--bitwise",
        action="store_true",
        help="--plain-adam plus d3rlpy's soft-update arithmetic: expect exact equality",
    )
    p.add_argument("--d3rlpy-python", default=str(D3RLPY_PYTHON))
    args = p.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = make_dataset(work / "minari")
        config = IQLConfig(dataset=str(path), seed=args.seed, batch_size=args.batch_size,
                           hidden_sizes=tuple(args.hidden))  # fmt: skip
        algo = IQL(config)
        if args.bitwise:
            args.plain_adam = True
            iql_module.polyak_ = _d3rlpy_soft_sync
        if args.plain_adam:
            c = algo.config
            algo.actor_optimizer = torch.optim.Adam(algo.policy.parameters(), lr=c.actor_learning_rate)
            algo.critic_optimizer = torch.optim.Adam(
                [*algo.critic.parameters(), *algo.value.parameters()], lr=c.critic_learning_rate
            )
        t = algo.data.transitions()
        idx_all = algo.draw_batches(args.updates)
        batches = [
            {
                "observations": algo.observations[idx].numpy(),
                "actions": t.actions[idx.numpy()].reshape(len(idx), -1).astype(np.float32),  # env units
                "rewards": algo.rewards[idx].numpy(),
                "next_observations": algo.next_observations[idx].numpy(),
                "terminals": algo.terminations[idx].numpy(),
            }
            for idx in idx_all
        ]
        init = {
            "weights": to_d3rlpy(algo),
            "config": {"obs_dim": algo.obs_dim, "act_dim": algo.act_dim, "batch_size": args.batch_size,
                       "gamma": config.gamma, "hidden_sizes": list(args.hidden),
                       "action_low": algo.action_low, "action_high": algo.action_high},
        }  # fmt: skip
        torch.save(init, work / "init.pt")
        torch.save(batches, work / "batches.pt")
        proc = subprocess.run(
            ["nice", "-n", "10", args.d3rlpy_python, str(CHILD), str(work)],
            capture_output=True, text=True, cwd=str(work),
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""},
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"d3rlpy child failed:\n{proc.stderr[-3000:]}")
        ref = torch.load(work / "d3rlpy.pt", weights_only=False)  # written by the child above

        ours_w, ours_l = [], []
        for idx in idx_all:
            m = algo.update(idx)
            ours_l.append({k: float(m[k]) for k in LOSSES})
            ours_w.append(to_d3rlpy(algo))

        act_diff = max(
            float(np.abs(algo.actions[idx].numpy() - s).max())
            for idx, s in zip(idx_all, ref["scaled_actions"])
        )
        print(f"IQL update parity, rewardlab vs d3rlpy 2.8.1: {args.updates} updates, batch {args.batch_size}, "
              f"hidden {args.hidden}, optimizer {'torch Adam' if args.plain_adam else 'LeanAdam (fused)'}, "
              f"target update {'d3rlpy mul/add' if args.bitwise else 'rewardlab lerp'}")  # fmt: skip
        print(f"scaled actions, max |rewardlab - d3rlpy MinMaxActionScaler|: {act_diff:.2e}")
        init_w = init["weights"]
        print("max |theta_rewardlab - theta_d3rlpy| per module (and max |theta_t - theta_0|, the scale "
              "of the change), then |loss diff|")  # fmt: skip
        head = (
            f"{'upd':>3} " + " ".join(f"{g:>20}" for g in GROUPS) + " " + " ".join(f"{k:>10}" for k in LOSSES)
        )
        print(head)
        first = None
        for u in range(args.updates):
            cells = []
            for g in GROUPS:
                diff = max(float((ours_w[u][g][k] - ref["weights"][u][g][k]).abs().max()) for k in init_w[g])
                moved = max(float((ref["weights"][u][g][k] - init_w[g][k]).abs().max()) for k in init_w[g])
                cells.append(f"{diff:9.1e} ({moved:7.1e})")
                if first is None and diff > 1e-5:
                    worst = max(
                        init_w[g],
                        key=lambda k: float((ours_w[u][g][k] - ref["weights"][u][g][k]).abs().max()),
                    )
                    first = f"update {u + 1}: {g}.{worst} differs by {diff:.2e}"
            ldiff = [abs(ours_l[u][k] - ref["losses"][u][k]) for k in LOSSES]
            for k, d in zip(LOSSES, ldiff):
                if first is None and d > 1e-4 * max(1.0, abs(ref["losses"][u][k])):
                    first = f"update {u + 1}: {k} differs by {d:.2e}"
            print(
                f"{u + 1:>3} "
                + " ".join(f"{c:>20}" for c in cells)
                + " "
                + " ".join(f"{d:10.1e}" for d in ldiff)
            )
        print("losses at update 1 (rewardlab | d3rlpy): " + ", ".join(
            f"{k} {ours_l[0][k]:.6f} | {ref['losses'][0][k]:.6f}" for k in LOSSES))  # fmt: skip
        print(f"losses at update {args.updates} (rewardlab | d3rlpy): " + ", ".join(
            f"{k} {ours_l[-1][k]:.6f} | {ref['losses'][-1][k]:.6f}" for k in LOSSES))  # fmt: skip
        print("verdict: " + (f"FIRST DIFFERENCE at {first}" if first else
                             "parity holds (weights within 1e-5, losses within 1e-4 relative)"))  # fmt: skip
        sys.exit(1 if first else 0)


if __name__ == "__main__":
    main()
