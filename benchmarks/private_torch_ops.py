"""What rewardlab.rl.common.PRIVATE_TORCH_OPS buys: one small-network update (zero_grad, backward,
gradient clipping, Adam step) with torch's private fused kernels vs the public torch API.

The networks are the default PPO actor + critic ([64, 64] tanh) and the rl-zoo3 DQN Q-network
([256, 256] ReLU, examples/dqn_cartpole.toml). Both paths give identical parameters (checked here
and in tests/rl/test_private_ops.py). One torch thread, as the Run uses for classic RL.

    python benchmarks/private_torch_ops.py            # about 20 s
"""

from __future__ import annotations

import statistics
import time

import torch

from rewardlab.rl import common
from rewardlab.rl.common import LeanAdam, clip_grad_norm, mlp

NETWORKS = {
    "ppo actor+critic [64, 64]": ((64, 64), "tanh", 128),
    "dqn q-net [256, 256]": ((256, 256), "relu", 64),
}


def time_updates(hidden, activation, batch, private: bool, updates: int = 400, repeats: int = 5):
    """Median over ``repeats`` of the mean microseconds per update, and the final parameters."""
    common.PRIVATE_TORCH_OPS = private
    torch.manual_seed(0)
    net = mlp(8, hidden, 4, activation)
    opt = LeanAdam(list(net.parameters()), lr=1e-3, eps=1e-5)
    params = list(net.parameters())
    x = torch.randn(batch, 8)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(updates):
            opt.zero_grad(set_to_none=True)
            net(x).pow(2).mean().backward()
            clip_grad_norm(params, 0.5)
            opt.update()
        times.append((time.perf_counter() - start) / updates * 1e6)
    return statistics.median(times), [p.detach().clone() for p in params]


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread; microseconds per update (forward + backward + clip + Adam)")
    for name, (hidden, activation, batch) in NETWORKS.items():
        public, p_public = time_updates(hidden, activation, batch, private=False)
        private, p_private = time_updates(hidden, activation, batch, private=True)
        same = all(torch.equal(a, b) for a, b in zip(p_public, p_private))
        print(
            f"{name:28s} public {public:7.1f} us   private {private:7.1f} us   "
            f"ratio {public / private:4.2f}x   identical parameters: {same}"
        )
    common.PRIVATE_TORCH_OPS = True


if __name__ == "__main__":
    main()
