"""A-LoL: Advantage-Leftover Lunch RL (Baheti et al., ICLR 2024, arXiv:2305.14718), the loss.

Offline policy gradient on a fixed set of (prompt x, response y, reward R) where the whole response
is one action. As abaheti95/LoL-RL computes it (``lolrl_qlora_llama_hh.py``; docs/offline.md,
"A-LoL"):

- advantage ``A = max(R - V_ref(x), 0)``: V_ref is a value head on the frozen reference policy's
  prompt states, fit to rewards of the reference's own samples; examples with A <= 0 are dropped;
- importance weight ``IS = clamp(pi(y|x) / pi_ref(y|x), 1 - eps, 1 + eps)`` with eps = ``ppo_clip``
  = 0.9, computed without gradient (a constant weight);
- ``loss = mean over the batch of (sum_t NLL_t) * IS * A`` (summed token NLL: "consistently sum is
  better than mean", the code says);
- "good priority" sampling: examples drawn with probability proportional to their positive
  advantage, so A <= 0 is never drawn.

Variants (the code's branches): ``a_lol`` (the above), ``a_lol_ref_free`` (IS = 1), ``a_lol_seq``
(per-token clamped ratios inside the sum), ``a_lol_kl`` (IS = 1 plus ``kl_beta`` x the sequence
log-ratio log pi - log pi_ref, the code asserts ppo_clip = 0 there), ``r_lol`` (R instead of A),
``wbc`` (R-weighted NLL, no ratio). ``clamp_advantage=False`` keeps negative advantages: the
ablation the paper argues against.

Ours: the value head is linear on the reference's final hidden state at the last prompt token
(the code attends over all prompt states); a_lol_kl's KL term is the sequence log-ratio estimate.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rewardlab.errors import ConfigError

VARIANTS = ("a_lol", "a_lol_ref_free", "a_lol_seq", "a_lol_kl", "r_lol", "wbc")


def advantages(rewards: torch.Tensor, values: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """A = R - V_ref(x), floored at 0 unless ``clamp`` is False."""
    a = rewards - values
    return a.clamp(min=0.0) if clamp else a


def priority_probabilities(adv: np.ndarray) -> np.ndarray:
    """'good_priority' sampling: P(i) proportional to max(A_i, 0); zero where A <= 0."""
    w = np.maximum(np.asarray(adv, dtype=np.float64), 0.0)
    if w.sum() <= 0:
        raise ConfigError("A-LoL's priority sampling needs at least one example with positive advantage")
    return w / w.sum()


def alol_loss(
    token_logps: torch.Tensor,
    ref_token_logps: torch.Tensor,
    mask: torch.Tensor,
    rewards: torch.Tensor,
    values: torch.Tensor,
    *,
    variant: str = "a_lol",
    ppo_clip: float = 0.9,
    kl_beta: float = 0.0,
    clamp_advantage: bool = True,
) -> torch.Tensor:
    """The A-LoL loss of a batch. ``token_logps`` (B, T) are the policy's log-probs of the response
    tokens (with gradient), ``ref_token_logps`` the frozen reference's, ``mask`` 1 on real tokens;
    ``rewards`` and ``values`` (B,) are R and V_ref(x)."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown A-LoL variant {variant!r}; valid: {', '.join(VARIANTS)}")
    mask = mask.to(token_logps.dtype)
    nll = -(token_logps * mask)  # (B, T)
    seq_logp, ref_seq_logp = (token_logps * mask).sum(1), (ref_token_logps * mask).sum(1)
    weight = rewards if variant in ("r_lol", "wbc") else advantages(rewards, values, clamp_advantage)
    if variant == "wbc":
        return (nll.sum(1) * weight).mean()
    if variant == "a_lol_seq":
        with torch.no_grad():
            ratios = torch.exp(token_logps - ref_token_logps).clamp(1 - ppo_clip, 1 + ppo_clip)
        return ((nll * ratios).sum(1) * weight).mean()
    if variant in ("a_lol_ref_free", "a_lol_kl"):
        ratio = torch.ones_like(seq_logp)
    else:  # a_lol, r_lol
        with torch.no_grad():
            ratio = torch.exp(seq_logp - ref_seq_logp).clamp(1 - ppo_clip, 1 + ppo_clip)
    loss = (nll.sum(1) * ratio.detach() * weight).mean()
    if variant == "a_lol_kl":
        loss = loss + kl_beta * (seq_logp - ref_seq_logp).mean()
    return loss


class ValueHead(nn.Module):
    """V_ref(x): linear on the frozen reference's last-layer hidden state at the last prompt token."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, prompt_state: torch.Tensor) -> torch.Tensor:
        return self.linear(prompt_state).squeeze(-1)


def fit_value_head(
    prompt_states: torch.Tensor, rewards: torch.Tensor, epochs: int = 200, lr: float = 1e-2, seed: int = 0
) -> ValueHead:
    """MSE regression of the reference's sampled rewards on its (detached) prompt states. The code
    trains with AdamW lr 1e-5 for 10 epochs on a large validation set; a full-batch Adam fit with
    a larger step suits the small sets here (ours)."""
    torch.manual_seed(seed)
    head = ValueHead(prompt_states.shape[-1])
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    x, y = prompt_states.detach(), rewards.detach().float()
    for _ in range(epochs):
        loss = (head(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()
