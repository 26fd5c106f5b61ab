"""DCoLT at small scale: outcome-reward RL over the whole reverse-diffusion trajectory of a masked
diffusion LM, with a Plackett–Luce unmasking policy.

Paper: DCoLT, "Reinforcing the Diffusion Chain of Lateral Thought with Diffusion Language Models"
(2025), seeds_table row 49 (code not found; the formula below is from the paper's text). For LLaDA
(a masked diffusion LM) every denoising step is an action with two parts: *which* masked positions
to unmask, chosen by an Unmasking Policy Module that ranks positions with a Plackett–Luce model,
and *what* to write there, sampled from the model's token predictions. The whole trajectory is
rewarded by its final answer, with group-normalised advantages::

    step k:  scores s_i for the still-masked positions M_k (the unmasking head)
             positions (p_1 .. p_m) ~ PL(s | M_k):  log P = sum_j [s_{p_j} - logsumexp_{i in M_k \\ {p_<j}} s_i]
             tokens x_{p_j} ~ softmax(logits_{p_j})
             log pi(step k) = log P + sum_j log softmax(logits_{p_j})[x_{p_j}]
    reward:  1 if the fully unmasked answer equals the target, else 0
    A        = group_advantages(rewards, G)        # GRPO's (r - mean) / (std + 1e-4)
    loss     = grpo_loss(log pi(step k), A)         # token = denoising step, on-policy

The scale is ours: a 2-layer bidirectional transformer built in-process over a 13-symbol
vocabulary (digits, ``+``, ``=``, MASK) on synthetic addition ``aa+bb=sss`` (operands of
``digits`` digits, zero-padded, the sum one digit longer). The first ``sft_steps`` steps are the
supervised starting point (the masked-diffusion objective: a random fraction of the answer masked,
cross-entropy on the masked positions); the RL steps follow. Evaluation unmasks greedily (the
highest-scoring positions, the most likely tokens) on a fixed held-out set and reports exact match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from rewardlab.config import RunConfig, bounds
from rewardlab.core.algorithm import Algorithm
from rewardlab.core.state import OBJECT, RNG, TORCH_RNG, spawn_rngs
from rewardlab.errors import ConfigError
from rewardlab.llm.grpo import group_advantages, grpo_loss

PLUS, EQUALS, MASK = 10, 11, 12
VOCAB = 13


def plackett_luce_logprob(scores: torch.Tensor, order: torch.Tensor, available: torch.Tensor) -> torch.Tensor:
    """Log-probability of choosing the positions ``order`` one after another, without replacement,
    under a Plackett–Luce model with ``scores`` over the ``available`` positions.

    ``scores``: (B, N) float; ``order``: (B, m) position indices; ``available``: (B, N) bool (the
    positions that may be chosen; every position of ``order`` must be available). Returns (B,):
    ``sum_j [s_{o_j} - logsumexp of s over available positions not among o_1 .. o_{j-1}]``.
    """
    remaining = available.clone()
    total = torch.zeros(scores.shape[0], dtype=scores.dtype)
    rows = torch.arange(scores.shape[0])
    for j in range(order.shape[1]):
        pick = order[:, j]
        masked = scores.masked_fill(~remaining, float("-inf"))
        total = total + scores[rows, pick] - torch.logsumexp(masked, dim=-1)
        remaining = remaining.clone()
        remaining[rows, pick] = False
    return total


def sample_plackett_luce(
    scores: torch.Tensor, available: torch.Tensor, m: int, generator: torch.Generator | None
) -> torch.Tensor:
    """``m`` positions per row in Plackett–Luce order: the top ``m`` of ``scores + Gumbel noise``
    over the available positions (the Gumbel-top-k form of sequential sampling); without a
    generator, the top ``m`` scores (greedy)."""
    keys = scores.detach()
    if generator is not None:
        u = torch.rand(scores.shape, generator=generator).clamp(1e-20, 1.0)
        keys = keys - torch.log(-torch.log(u))
    return keys.masked_fill(~available, float("-inf")).topk(m, dim=-1).indices


class MaskedDiffusionLM(nn.Module):
    """A tiny bidirectional transformer: digit logits and an unmasking score at every position."""

    def __init__(self, length: int, hidden_size: int, num_layers: int, num_heads: int):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, hidden_size)
        self.positions = nn.Parameter(torch.randn(length, hidden_size) * 0.02)
        layer = nn.TransformerEncoderLayer(
            hidden_size, num_heads, 4 * hidden_size, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.digits = nn.Linear(hidden_size, 10)  # answer positions only ever hold digits
        self.unmask = nn.Linear(hidden_size, 1)  # the Unmasking Policy Module's position scores

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(self.tokens(x) + self.positions)
        return torch.log_softmax(self.digits(h), -1), self.unmask(h).squeeze(-1)


def encode(a: np.ndarray, b: np.ndarray, digits: int) -> tuple[np.ndarray, np.ndarray]:
    """Prompts ``a+b=`` followed by ``digits + 1`` MASKs, and the answers' digits: (n, L), (n, digits + 1)."""

    def to_digits(v: np.ndarray, width: int) -> np.ndarray:
        return (v[:, None] // 10 ** np.arange(width - 1, -1, -1)) % 10

    n = len(a)
    answer = to_digits(a + b, digits + 1)
    prompt = np.concatenate(
        [to_digits(a, digits), np.full((n, 1), PLUS), to_digits(b, digits), np.full((n, 1), EQUALS),
         np.full((n, digits + 1), MASK)], axis=1,
    )  # fmt: skip
    return prompt, answer


@dataclass
class DCoLTConfig(RunConfig):
    env: str = "addition"  # synthetic a + b (built in-process)
    total_steps: int = 200  # sft_steps supervised steps, then RL iterations
    eval_episodes: int = 100  # problems of a fixed set (held out when the space allows), greedy
    digits: int = field(default=1, metadata=bounds(ge=1))  # operand digits
    hidden_size: int = field(default=32, metadata=bounds(ge=8))
    num_layers: int = field(default=2, metadata=bounds(ge=1))
    num_heads: int = field(default=4, metadata=bounds(ge=1))
    sft_steps: int = field(default=100, metadata=bounds(ge=0))
    sft_batch_size: int = field(default=64, metadata=bounds(ge=1))
    sft_learning_rate: float = 3e-3
    # --- RL over the reverse-diffusion trajectory ---
    batch_size: int = field(default=16, metadata=bounds(ge=1))  # problems per RL iteration
    num_generations: int = 8  # trajectories per problem (G)
    tokens_per_step: int = field(default=1, metadata=bounds(ge=1))  # positions unmasked per step
    learning_rate: float = 1e-3
    epsilon: float = 0.2

    def validate(self) -> None:
        if self.env != "addition":
            raise ConfigError(f"dcolt trains on its synthetic env 'addition' only, got env {self.env!r}")
        if self.num_generations < 2:
            raise ConfigError(
                f"dcolt: num_generations={self.num_generations}; group-normalised rewards need G >= 2 "
                "trajectories per problem"
            )
        if self.tokens_per_step > self.digits + 1:
            raise ConfigError(
                f"dcolt: tokens_per_step={self.tokens_per_step} exceeds the answer length digits + 1 = "
                f"{self.digits + 1}"
            )
        if self.hidden_size % self.num_heads:
            raise ConfigError(
                f"dcolt: hidden_size {self.hidden_size} must be a multiple of num_heads {self.num_heads}"
            )


class DCoLT(Algorithm):
    """DCoLT on a tiny masked diffusion LM; see the module docstring."""

    config_class = DCoLTConfig
    summary = "DCoLT: RL over a masked diffusion LM's whole unmasking trajectory (Plackett-Luce positions)"
    curve_metric = "reward"
    state_fields = {
        "model": OBJECT,
        "sft_optimizer": OBJECT,
        "optimizer": OBJECT,
        "rng": RNG,
        "generator": TORCH_RNG,
    }
    rebuilt_fields = ("test_a", "test_b", "held_out", "length", "answer_slots")
    config: DCoLTConfig

    def __init__(self, config: DCoLTConfig):
        super().__init__(config)
        self.rng, test_rng = spawn_rngs(config.seed, 2)
        top = 10**config.digits
        space = top * top
        # a fixed evaluation set, held out from training when the problem space is large enough (10x);
        # with 1-digit operands (100 problems) evaluation covers the whole space, training problems too
        self.held_out = space >= 10 * config.eval_episodes
        test = test_rng.choice(space, size=min(config.eval_episodes, space), replace=False)
        self.test_a, self.test_b = test // top, test % top
        self.answer_slots = config.digits + 1
        self.length = 2 * config.digits + 2 + self.answer_slots
        self.generator = torch.Generator().manual_seed(config.seed)
        init = torch.random.get_rng_state()
        torch.manual_seed(config.seed)
        try:
            self.model = MaskedDiffusionLM(
                self.length, config.hidden_size, config.num_layers, config.num_heads
            )
        finally:
            torch.random.set_rng_state(init)
        self.sft_optimizer = torch.optim.Adam(self.model.parameters(), lr=config.sft_learning_rate)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)

    def _problems(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        top = 10**self.config.digits
        held = set((self.test_a * top + self.test_b).tolist()) if self.held_out else set()
        out: list[int] = []
        while len(out) < n:
            out += [int(v) for v in self.rng.integers(top * top, size=n) if int(v) not in held]
        v = np.array(out[:n])
        return v // top, v % top

    # ---- the supervised starting point ---------------------------------------------------------
    def sft_step(self) -> dict[str, float]:
        a, b = self._problems(self.config.sft_batch_size)
        prompt, answer = encode(a, b, self.config.digits)
        x = torch.as_tensor(prompt)
        target = torch.as_tensor(answer)
        # masked-diffusion objective: mask each answer position with a per-sample ratio t ~ U(0, 1]
        ratio = torch.as_tensor(1.0 - self.rng.random((len(a), 1)))
        masked = torch.as_tensor(self.rng.random(answer.shape)) < ratio
        x[:, -self.answer_slots :] = torch.where(masked, MASK, target)
        logp, _ = self.model(x)
        nll = -logp[:, -self.answer_slots :].gather(-1, target[..., None]).squeeze(-1)
        loss = (nll * masked).sum() / masked.sum().clamp(min=1)
        self.sft_optimizer.zero_grad()
        loss.backward()
        self.sft_optimizer.step()
        return {"sft_loss": float(loss.detach())}

    # ---- the reverse-diffusion trajectory ------------------------------------------------------
    def unmask(self, prompt: np.ndarray, *, greedy: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the reverse process from a fully masked answer: the answers (n, slots) and each step's
        log-probability (n, steps), PL positions plus tokens."""
        x = torch.as_tensor(prompt).clone()
        n, k = len(x), self.config.tokens_per_step
        first = self.length - self.answer_slots
        generator = None if greedy else self.generator
        steps = []
        while (x[:, first:] == MASK).any():
            logp, scores = self.model(x)
            available = x[:, first:] == MASK
            m = min(k, int(available.sum(1).min()))
            order = sample_plackett_luce(scores[:, first:], available, m, generator)
            pl = plackett_luce_logprob(scores[:, first:], order, available)
            token_logp = logp[:, first:].gather(1, order[..., None].expand(-1, -1, 10))  # (n, m, 10)
            if greedy:
                tokens = token_logp.argmax(-1)
            else:
                tokens = torch.multinomial(token_logp.detach().exp().reshape(-1, 10), 1, generator=generator)
                tokens = tokens.reshape(n, m)
            steps.append(pl + token_logp.gather(-1, tokens[..., None]).squeeze(-1).sum(-1))
            x = x.clone()
            x[torch.arange(n)[:, None], first + order] = tokens
        return x[:, first:], torch.stack(steps, 1)

    def rl_step(self) -> dict[str, float]:
        cfg = self.config
        a, b = self._problems(cfg.batch_size)
        prompt, answer = encode(a, b, cfg.digits)
        prompt = np.repeat(prompt, cfg.num_generations, axis=0)
        answer = np.repeat(answer, cfg.num_generations, axis=0)
        filled, logprobs = self.unmask(prompt, greedy=False)
        rewards = (filled.numpy() == answer).all(1).astype(np.float32)
        advantages = group_advantages(torch.as_tensor(rewards), cfg.num_generations)
        loss = grpo_loss(logprobs, None, None, advantages, torch.ones_like(logprobs), epsilon=cfg.epsilon)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"reward": float(rewards.mean()), "loss": float(loss.detach())}

    def step(self) -> dict[str, float]:
        metrics = self.sft_step() if self.global_step < self.config.sft_steps else self.rl_step()
        self.global_step += 1
        return metrics

    @torch.no_grad()
    def evaluate(self, episodes: int) -> dict[str, Any]:
        """Greedy unmasking on the first ``episodes`` held-out problems: exact-match accuracy."""
        a, b = self.test_a[:episodes], self.test_b[:episodes]
        prompt, answer = encode(a, b, self.config.digits)
        filled, _ = self.unmask(prompt, greedy=True)
        correct = (filled.numpy() == answer).all(1).astype(np.float64)
        return {
            "mean_return": float(correct.mean()),
            "std_return": float(correct.std()),
            "episodes": len(correct),
            "exact_match": float(correct.mean()),
        }

    def parameters_finite(self) -> str | None:
        for name, p in self.model.named_parameters():
            if not torch.isfinite(p).all():
                return name
        return None


__all__ = [
    "DCoLT",
    "DCoLTConfig",
    "MaskedDiffusionLM",
    "encode",
    "plackett_luce_logprob",
    "sample_plackett_luce",
]
