"""Runs inside d3rlpy's own virtualenv (d3rlpy 2.8.1 pins gymnasium==1.0.0, so it cannot share the
project's); called by offline_vs_d3rlpy.py as a subprocess. Prints one JSON line.

    .venv-d3rlpy/bin/python benchmarks/_d3rlpy_child.py DATASET_DIR ALGO SEED STEPS EVAL_EPISODES

The Minari file is read with h5py directly (the same arrays rewardlab reads; this venv needs no
minari). d3rlpy's MDPDataset keeps T observations per episode: it drops each episode's final
observation, and so the last transition of every *truncated* episode (it has no next state there),
while rewardlab bootstraps that transition from the final observation Minari keeps.
"""

from __future__ import annotations

import json
import sys
import time

import h5py
import numpy as np


def load(dataset_dir: str):
    with open(f"{dataset_dir}/data/metadata.json") as f:
        meta = json.load(f)
    obs, act, rew, term, trunc = [], [], [], [], []
    with h5py.File(f"{dataset_dir}/data/main_data.hdf5", "r") as f:
        for key in sorted(f.keys(), key=lambda k: int(k.split("_")[1])):
            ep = f[key]
            obs.append(ep["observations"][:-1])  # d3rlpy: T observations per episode
            act.append(ep["actions"][:])
            rew.append(ep["rewards"][:])
            term.append(ep["terminations"][:])
            trunc.append(ep["truncations"][:])
    return meta, [np.concatenate(x) for x in (obs, act, rew, term, trunc)]


def main() -> None:
    dataset_dir, algo_name, seed, steps, episodes = sys.argv[1:6]
    seed, steps, episodes = int(seed), int(steps), int(episodes)
    import d3rlpy
    import gymnasium as gym
    import torch

    torch.set_num_threads(1)
    d3rlpy.seed(seed)
    meta, (obs, act, rew, term, trunc) = load(dataset_dir)
    env_id = json.loads(meta["env_spec"])["id"]
    env = gym.make(env_id)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=obs.astype(np.float32),
        actions=act.reshape(len(act), -1).astype(np.int64 if discrete else np.float32),
        rewards=rew.astype(np.float32),
        terminals=term.astype(np.float32),
        # A step can be both (CartPole falling on its 500th step); d3rlpy refuses that, and a
        # termination does not bootstrap in either library, so it wins.
        timeouts=np.logical_and(trunc, np.logical_not(term)).astype(np.float32),
        action_space=d3rlpy.constants.ActionSpace.DISCRETE
        if discrete
        else d3rlpy.constants.ActionSpace.CONTINUOUS,
    )
    scaler = None
    if not discrete:  # rewardlab maps Box actions to [-1, 1] by the bounds: the same scaler
        scaler = d3rlpy.preprocessing.MinMaxActionScaler(
            minimum=env.action_space.low.reshape(-1), maximum=env.action_space.high.reshape(-1)
        )
    configs = {
        ("bc", False): lambda: d3rlpy.algos.BCConfig(action_scaler=scaler),
        ("bc", True): lambda: d3rlpy.algos.DiscreteBCConfig(),
        ("td3-bc", False): lambda: d3rlpy.algos.TD3PlusBCConfig(action_scaler=scaler),
        ("iql", False): lambda: d3rlpy.algos.IQLConfig(action_scaler=scaler),
        ("cql", False): lambda: d3rlpy.algos.CQLConfig(action_scaler=scaler),
        ("cql", True): lambda: d3rlpy.algos.DiscreteCQLConfig(),
    }
    algo = configs[(algo_name, discrete)]().create(device="cpu:0")
    algo.build_with_dataset(dataset)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    algo.fit(
        dataset, n_steps=steps, n_steps_per_epoch=steps, show_progress=False, save_interval=10**9,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
    )  # fmt: skip
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    # the same evaluation as rewardlab's: deterministic actions, episodes seeded 10_000 + seed + i
    returns = []
    for i in range(episodes):
        o, _ = env.reset(seed=10_000 + seed + i)
        total, done = 0.0, False
        while not done:
            a = algo.predict(np.asarray(o, np.float32)[None])[0]
            o, r, terminated, truncated, _ = env.step(a)
            total += float(r)
            done = terminated or truncated
        returns.append(total)
    print(json.dumps({"return": float(np.mean(returns)), "sps": steps / wall, "cpu_sps": steps / cpu}))


if __name__ == "__main__":
    main()
