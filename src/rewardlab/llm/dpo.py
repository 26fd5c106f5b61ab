"""DPO: Direct Preference Optimization (Rafailov et al. 2023, arXiv 2305.18290).

Reference code the numbers are checked against: TRL 1.16.0, ``trl/trainer/dpo_trainer.py``
(``DPOTrainer._compute_loss``, loss type ``sigmoid`` with ``f_divergence_type="reverse_kl"``) and
``trl/trainer/dpo_config.py`` for the defaults (tests/llm/test_loss_parity.py).

Offline: a JSONL file of ``{"prompt", "chosen", "rejected"}``. The reference policy's sequence
log-probs of every pair are computed once, before the first update, and cached (they never change).
One iteration (``DPO.step``) is one optimizer step on ``batch_size`` pairs::

    h      = (logp(y_w) - logp_ref(y_w)) - (logp(y_l) - logp_ref(y_l))   # sums over completion tokens
    loss   = mean -log sigmoid(beta * h)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dpo_loss(
    chosen_logps: torch.Tensor,
    rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    *,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sigmoid DPO loss of a batch and the implicit rewards ``beta * (logp - logp_ref)``.

    All inputs: (batch,) sequence log-probabilities (sums over completion tokens).
    Returns ``(loss, chosen_rewards, rejected_rewards)``; the rewards are detached.
    """
    chosen_logratios = chosen_logps - ref_chosen_logps
    rejected_logratios = rejected_logps - ref_rejected_logps
    loss = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios)).mean()
    return loss, (beta * chosen_logratios).detach(), (beta * rejected_logratios).detach()


__all__ = ["dpo_loss"]
