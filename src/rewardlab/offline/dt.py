"""Decision Transformer (Chen et al., 2021, arXiv:2106.01345), continuous actions.

Offline RL as sequence modelling: a causal transformer reads the last K steps as interleaved tokens
(return-to-go, state, action) and predicts each step's action from the tokens up to its state
token. Trained by MSE on the data's actions; at evaluation it is conditioned on a *target* return
(the return-to-go token starts there and drops by each reward received), so asking for a higher
return should produce better behaviour.

As d3rlpy's continuous DecisionTransformer (d3rlpy/algos/transformer/decision_transformer.py,
models/torch/transformers.py): states embedded by an MLP encoder ([256, 256] ReLU), actions and
returns-to-go by linear layers, a learnt embedding of the timestep added to all three tokens
("simple" position encoding), GPT-2-style pre-LayerNorm blocks, tanh action head; loss
mean over slots of mask x sum_d (a_hat - a)^2. Windows end at a uniformly drawn step and are
left-padded inside their episode (``OfflineDataset.trajectory_windows``); padded slots are masked
out as attention keys (each slot may always attend to itself, so no row is empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rewardlab.offline.common import OfflineAlgorithm, OfflineConfig, mlp_relu
from rewardlab.rl.common import LeanAdam


@dataclass
class DTConfig(OfflineConfig):
    # d3rlpy 2.8.1 DecisionTransformerConfig and TransformerConfig
    batch_size: int = 64
    learning_rate: float = 1e-4
    num_heads: int = 1
    num_layers: int = 3
    dropout: float = 0.1  # d3rlpy's attn_dropout, resid_dropout and embed_dropout (all 0.1)
    context_size: int = 20
    max_timestep: int = 1000
    # Multiply rewards (and so returns-to-go) by this; d3rlpy's default is no scaler, its D4RL
    # reproduction uses MultiplyRewardScaler(0.001). Pendulum's returns are O(1000): use 0.001.
    return_scale: float = 1.0
    target_return: float | None = None  # evaluation's conditioning; None = the dataset's best episode

    def validate(self) -> None:
        super().validate()
        for key in ("num_heads", "num_layers", "context_size", "max_timestep"):
            if getattr(self, key) < 1:
                from rewardlab.errors import ConfigError

                raise ConfigError(f"config key {key!r}: must be >= 1, got {getattr(self, key)}")


def dt_loss(predicted: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean over all B x K slots of mask x sum_d (a_hat - a)^2 (d3rlpy DecisionTransformerImpl.compute_loss:
    padded slots count in the denominator)."""
    return ((predicted - actions).pow(2).sum(-1) * mask).mean()


def attention_mask(mask: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B * heads, 3K, 3K) boolean mask, True = may not attend: future tokens, and tokens of padded
    slots, except that every token may attend to itself (a fully masked row would give NaN)."""
    b, k = mask.shape
    length = 3 * k
    causal = torch.ones(length, length, dtype=torch.bool).triu(1)
    padded_key = (mask == 0).repeat_interleave(3, dim=1)  # (B, 3K)
    blocked = causal.unsqueeze(0) | padded_key.unsqueeze(1)
    blocked &= ~torch.eye(length, dtype=torch.bool).unsqueeze(0)
    return blocked.repeat_interleave(num_heads, dim=0)


class DecisionTransformerNet(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, c: DTConfig):
        super().__init__()
        hidden = c.hidden_sizes[-1]
        self.num_heads = c.num_heads
        self.embed_state = nn.Sequential(mlp_relu(obs_dim, c.hidden_sizes[:-1], hidden), nn.ReLU())
        self.embed_action = nn.Linear(act_dim, hidden)
        self.embed_return = nn.Linear(1, hidden)
        self.embed_timestep = nn.Embedding(c.max_timestep, hidden)
        self.embed_dropout = nn.Dropout(c.dropout)
        layer = nn.TransformerEncoderLayer(
            hidden, c.num_heads, dim_feedforward=4 * hidden, dropout=c.dropout, activation="relu",
            batch_first=True, norm_first=True,
        )  # fmt: skip
        self.blocks = nn.TransformerEncoder(layer, c.num_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, act_dim)

    def forward(self, obs, actions, returns_to_go, timesteps, mask) -> torch.Tensor:
        """(B, K, obs), (B, K, act), (B, K), (B, K) long, (B, K) -> predicted actions (B, K, act)."""
        b, k = mask.shape
        pos = self.embed_timestep(timesteps)
        tokens = torch.stack(
            [self.embed_return(returns_to_go.unsqueeze(-1)) + pos, self.embed_state(obs) + pos,
             self.embed_action(actions) + pos], dim=2,
        ).reshape(b, 3 * k, -1)  # fmt: skip
        h = self.blocks(self.embed_dropout(tokens), mask=attention_mask(mask, self.num_heads))
        h = self.final_norm(h).reshape(b, k, 3, -1)
        return torch.tanh(self.head(h[:, :, 1]))  # predict a_t from the state token s_t


class DT(OfflineAlgorithm):
    config_class = DTConfig
    summary = (
        "Decision Transformer: return-conditioned sequence model over (R, s, a) tokens (Chen et al. 2021)"
    )
    rebuilt_fields = ("returns_to_go",)  # from the dataset

    def build(self) -> None:
        c = self.config
        self.data.check_context(c.context_size)
        self.returns_to_go = torch.as_tensor(self.data.returns_to_go() * c.return_scale, dtype=torch.float32)
        self.net = DecisionTransformerNet(self.obs_dim, self.act_dim, c)
        self.optimizer = LeanAdam(self.net.parameters(), lr=c.learning_rate)

    def draw_batches(self, n: int) -> list[dict[str, np.ndarray]]:
        c = self.config
        return [
            self.data.trajectory_windows(c.context_size, c.batch_size, self.sampler.rng) for _ in range(n)
        ]

    def _window_tensors(self, w: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
        steps = torch.from_numpy(w["steps"])
        mask = torch.from_numpy(w["mask"])
        m = mask.unsqueeze(-1)
        timesteps = torch.from_numpy(w["timesteps"]).clamp(max=self.config.max_timestep - 1)
        return (self.observations[steps] * m, self.actions[steps] * m, self.returns_to_go[steps] * mask,
                timesteps, mask)  # fmt: skip

    def update(self, window: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        obs, actions, rtg, timesteps, mask = self._window_tensors(window)
        self.net.train()
        loss = dt_loss(self.net(obs, actions, rtg, timesteps, mask), actions, mask)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("a Decision Transformer acts from a history; see evaluate()")

    def evaluate(self, episodes: int, target_return: float | None = None) -> dict[str, Any]:
        """Episodes on seeds ``seed + 10_000 + i``, all in one batch, each conditioned on ``target_return``
        (default: the config's, else the dataset's best episode return)."""
        c = self.config
        target = target_return if target_return is not None else c.target_return
        if target is None:
            target = float(self.data.episode_returns().max())
        envs = [gym.make(c.env, **self.data.env_kwargs) for _ in range(episodes)]
        obs0 = np.stack([env.reset(seed=c.seed + 10_000 + i)[0] for i, env in enumerate(envs)])
        k = c.context_size
        hist_obs = [torch.from_numpy(self._normalize(obs0.reshape(episodes, -1)))]
        hist_act: list[torch.Tensor] = []
        hist_rtg = [torch.full((episodes,), target * c.return_scale)]
        returns, lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
        active = np.ones(episodes, dtype=bool)
        self.net.eval()
        t = 0
        with torch.no_grad():
            while active.any():
                start = max(0, t + 1 - k)
                n = t + 1 - start
                pad = k - n
                obs = torch.stack(hist_obs[start:], dim=1)
                acts = torch.stack([*hist_act[start:], torch.zeros(episodes, self.act_dim)], dim=1)
                rtg = torch.stack(hist_rtg[start:], dim=1)
                steps = torch.arange(start, t + 1).clamp(max=c.max_timestep - 1).expand(episodes, n)
                mask = torch.ones(episodes, n)
                if pad:
                    obs, acts, rtg, mask = (torch.cat([torch.zeros(episodes, pad, *x.shape[2:]), x], dim=1)
                                            for x in (obs, acts, rtg, mask))  # fmt: skip
                    steps = torch.cat([torch.zeros(episodes, pad, dtype=torch.long), steps], dim=1)
                action = self.net(obs, acts, rtg, steps, mask)[:, -1]
                env_action = self.action_low + (action.numpy() + 1) * 0.5 * (
                    self.action_high - self.action_low
                )
                next_obs = np.zeros_like(obs0)
                rewards = np.zeros(episodes)
                for i in np.flatnonzero(active):
                    o, r, terminated, truncated, _ = envs[i].step(
                        env_action[i].reshape(envs[i].action_space.shape)
                    )
                    next_obs[i], rewards[i] = o, float(r)
                    returns[i] += float(r)
                    lengths[i] += 1
                    if terminated or truncated:
                        active[i] = False
                hist_act.append(action)
                hist_obs.append(torch.from_numpy(self._normalize(next_obs.reshape(episodes, -1))))
                hist_rtg.append(hist_rtg[-1] - torch.as_tensor(rewards * c.return_scale, dtype=torch.float32))
                t += 1
        for env in envs:
            env.close()
        result = {
            "mean_return": float(returns.mean()), "std_return": float(returns.std()), "episodes": int(episodes),
            "mean_length": float(lengths.mean()), "returns": returns.tolist(), "target_return": float(target),
        }  # fmt: skip
        if self.data.ref_min_score is not None and self.data.ref_max_score is not None:
            result["normalized_score"] = 100 * float(self.data.normalized_score(result["mean_return"]))
        return result

    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": self.optimizer}
