"""Where SAC/TD3/DDPG spend their time, rewardlab vs Stable-Baselines3 2.9, in one process.

At one update per env step these algorithms are bound by the update, so this times the two parts
apart, on the Pendulum-v1 RL Zoo networks (SAC [256, 256], TD3/DDPG [400, 300]), batch 256, one
torch thread:

* one gradient step: rewardlab's ``_update`` on a batch gathered from its replay buffer against
  SB3's ``train(gradient_steps=1)`` sampling the same buffer (SB3's sampler is swapped for
  rewardlab's, so the batch costs the same);
* one env step of collection with policy actions and no update (``gradient_steps = 0``).

The libraries alternate in blocks and the table gives the median per block, in CPU time (steadier
than wall time on a shared machine) and wall time, and the ratio SB3 / rewardlab.

    python benchmarks/offpolicy_update_speed.py                 # sac td3 ddpg, 7 blocks
    python benchmarks/offpolicy_update_speed.py --algos sac --blocks 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

NETS = {"sac": [256, 256], "td3": [400, 300], "ddpg": [400, 300]}


def _time(fn, n: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def _alternate(ours, theirs, n: int, blocks: int) -> dict[str, float]:
    ours(), theirs()  # warm up (first optimizer steps, allocator)
    times = {"ours": [], "sb3": []}
    for _ in range(blocks):
        times["ours"].append(_time(ours, n))
        times["sb3"].append(_time(theirs, n))
    out = {}
    for who, ts in times.items():
        out[f"{who}_wall"] = statistics.median(t[0] for t in ts)
        out[f"{who}_cpu"] = statistics.median(t[1] for t in ts)
    return out


def update_speed(algo: str, blocks: int, n: int = 40, batch_size: int = 256) -> dict[str, float]:
    import stable_baselines3 as sb3
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.type_aliases import ReplayBufferSamples

    from rewardlab.core.run import new_config
    from rewardlab.registry import get_algorithm

    config = new_config(algo, cli={"env": "Pendulum-v1", "seed": 0}, sets=[f"hidden_sizes={NETS[algo]}"])
    ours = get_algorithm(algo)(config)
    peer_cls = {"sac": sb3.SAC, "td3": sb3.TD3, "ddpg": sb3.DDPG}[algo]
    peer = peer_cls("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": NETS[algo]}, seed=0, device="cpu")
    peer.set_logger(configure(None, []))
    rng = np.random.default_rng(0)
    size = 4096
    obs = rng.standard_normal((size, 3)).astype(np.float32)
    ours.buffer.add(obs, np.roll(obs, 1, 0), rng.uniform(-1, 1, (size, 1)).astype(np.float32),
                    rng.standard_normal(size).astype(np.float32), (rng.random(size) < 0.01).astype(np.float32))  # fmt: skip

    def batch():
        return ours.buffer.gather(ours.buffer.indices(rng.random(batch_size)))

    def sb3_sample(*args, **kwargs):
        b = batch()
        return ReplayBufferSamples(b["obs"], b["actions"], b["next_obs"], b["dones"][:, None],
                                   b["rewards"][:, None], None)  # fmt: skip

    peer.replay_buffer.sample = sb3_sample

    def run_ours():
        for _ in range(n):
            ours._update(batch())

    def run_peer():
        peer.train(gradient_steps=n, batch_size=batch_size)

    return _alternate(run_ours, run_peer, n, blocks)


def collect_speed(algo: str, blocks: int, n: int = 500) -> dict[str, float]:
    import stable_baselines3 as sb3

    from rewardlab.core.run import new_config
    from rewardlab.registry import get_algorithm

    sets = [f"hidden_sizes={NETS[algo]}", "learning_starts=0", "gradient_steps=0", f"log_every={n}"]
    if algo != "sac":
        sets.append("action_noise=normal")
    ours = get_algorithm(algo)(
        new_config(algo, cli={"env": "Pendulum-v1", "seed": 0, "total_steps": 10**7}, sets=sets)
    )
    peer_cls = {"sac": sb3.SAC, "td3": sb3.TD3, "ddpg": sb3.DDPG}[algo]
    kwargs = {}
    if algo != "sac":
        from stable_baselines3.common.noise import NormalActionNoise

        kwargs["action_noise"] = NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))
    peer = peer_cls("MlpPolicy", gym.make("Pendulum-v1"), policy_kwargs={"net_arch": NETS[algo]}, learning_starts=0,
                    gradient_steps=0, seed=0, device="cpu", **kwargs)  # fmt: skip
    return _alternate(ours.step, lambda: peer.learn(n, reset_num_timesteps=False), n, blocks)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algos", nargs="+", choices=list(NETS), default=list(NETS))
    p.add_argument("--blocks", type=int, default=7)
    args = p.parse_args()
    torch.set_num_threads(1)
    rows = []
    for algo in args.algos:
        for part, fn, unit, scale in (("one update", update_speed, "ms", 1e3), ("one env step, no update",
                                      collect_speed, "us", 1e6)):  # fmt: skip
            r = fn(algo, args.blocks)
            rows.append(
                f"| {algo.upper()} | {part} | {r['ours_cpu'] * scale:.2f} {unit} | {r['sb3_cpu'] * scale:.2f} {unit} | "
                f"**{r['sb3_cpu'] / r['ours_cpu']:.2f}x** | {r['sb3_wall'] / r['ours_wall']:.2f}x |"
            )
            print(rows[-1], flush=True)
    print(
        "\n| algo | part | rewardlab (CPU) | SB3 (CPU) | SB3 / rewardlab, CPU | wall |\n|---|---|---|---|---|---|"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
