"""Runs inside d3rlpy's virtualenv; called by offline_update_parity.py. Not meant to be run alone.

    .venv-d3rlpy/bin/python benchmarks/_d3rlpy_parity_child.py WORK_DIR

Reads WORK_DIR/init.pt (initial weights, already in d3rlpy's parameter names, and the config) and
WORK_DIR/batches.pt (K minibatches in env units: raw actions, so d3rlpy's own MinMaxActionScaler
maps them), builds d3rlpy's IQL with the same sizes, loads the weights, then calls ``algo.update``
(TorchMiniBatch.from_batch + IQLImpl.inner_update: critic+value step, actor step, soft target
sync) on each batch, bypassing d3rlpy's sampler. Writes WORK_DIR/d3rlpy.pt: the weights and losses
after every update.
"""

from __future__ import annotations

import sys


def main() -> None:
    work = sys.argv[1]
    import d3rlpy
    import numpy as np
    import torch
    from d3rlpy.dataset.mini_batch import TransitionMiniBatch

    torch.set_num_threads(1)
    init = torch.load(f"{work}/init.pt", weights_only=False)  # our own temp files
    batches = torch.load(f"{work}/batches.pt", weights_only=False)
    c = init["config"]
    d3rlpy.seed(0)
    scaler = d3rlpy.preprocessing.MinMaxActionScaler(
        minimum=np.asarray(c["action_low"], np.float32), maximum=np.asarray(c["action_high"], np.float32)
    )
    hidden = list(c["hidden_sizes"])
    enc = d3rlpy.models.encoders.VectorEncoderFactory(hidden_units=hidden)
    algo = d3rlpy.algos.IQLConfig(
        action_scaler=scaler,
        batch_size=c["batch_size"],
        gamma=c["gamma"],
        actor_encoder_factory=enc,
        critic_encoder_factory=enc,
        value_encoder_factory=enc,
    ).create(device="cpu:0")
    algo.create_impl((c["obs_dim"],), c["act_dim"])
    m = algo.impl._modules
    names = ("policy", "q_funcs", "targ_q_funcs", "value_func")
    for name in names:
        getattr(m, name).load_state_dict(init["weights"][name], strict=True)

    def snapshot() -> dict:
        return {n: {k: v.detach().clone() for k, v in getattr(m, n).state_dict().items()} for n in names}

    out = {"weights": [], "losses": [], "scaled_actions": []}
    for b in batches:
        n = len(b["rewards"])
        batch = TransitionMiniBatch(
            observations=b["observations"].astype(np.float32),
            actions=b["actions"].astype(np.float32),
            rewards=b["rewards"].reshape(n, 1).astype(np.float32),
            next_observations=b["next_observations"].astype(np.float32),
            next_actions=np.zeros_like(b["actions"], np.float32),
            terminals=b["terminals"].reshape(n, 1).astype(np.float32),
            intervals=np.ones((n, 1), np.float32),
            transitions=[],
        )
        out["scaled_actions"].append(scaler.transform(torch.from_numpy(batch.actions)).numpy())
        loss = algo.update(batch)
        out["losses"].append({k: float(v) for k, v in loss.items()})
        out["weights"].append(snapshot())
    torch.save(out, f"{work}/d3rlpy.pt")


if __name__ == "__main__":
    main()
