"""rewardlab's losses equal TRL 1.16.0's, on random tensors, for every loss type and option.

Two oracles:
1. ``Trl1160`` below transcribes the formulas of TRL 1.16.0 (``trl/trainer/grpo_trainer.py``
   ``GRPOTrainer._generate_and_score_completions`` / ``_compute_loss``, ``trl/trainer/rloo_trainer.py``,
   ``trl/trainer/dpo_trainer.py``, ``trl/trainer/utils.py::nanstd``) step by step as TRL writes them
   (always runs).
2. When trl==1.16.0 is installed (the ``bench`` environment), TRL's own ``_compute_loss`` methods
   are called with a stand-in ``self`` and the same tensors.
"""

import itertools
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from rewardlab.llm.dpo import dpo_loss
from rewardlab.llm.grpo import group_advantages, grpo_loss
from rewardlab.llm.rloo import rloo_advantages, rloo_kl_penalty, rloo_loss

LOSS_TYPES = ["grpo", "bnpo", "dr_grpo", "dapo", "cispo"]


class Trl1160:
    """TRL 1.16.0's formulas, written out as its trainers compute them (single process, GA = 1)."""

    @staticmethod
    def nanstd(t, dim=None):
        mean = torch.nanmean(t, dim=dim, keepdim=True)
        variance = torch.nanmean((t - mean) ** 2, dim=dim, keepdim=True)
        count = torch.sum(~torch.isnan(t), dim=dim, keepdim=True)
        correction = count / (count - 1)
        correction = torch.where(count > 1, correction, torch.full_like(correction, float("nan")))
        variance *= correction
        std = torch.sqrt(variance)
        return std.squeeze(dim) if dim is not None else std.squeeze()

    @classmethod
    def grpo_advantages(cls, rewards, num_generations, scale_rewards):
        mean_grouped = torch.nanmean(rewards.view(-1, num_generations), dim=1)
        mean_grouped = mean_grouped.repeat_interleave(num_generations, dim=0)
        if scale_rewards in ["group", "none"]:
            std = cls.nanstd(rewards.view(-1, num_generations), dim=1).repeat_interleave(
                num_generations, dim=0
            )
        else:
            std = cls.nanstd(rewards).expand_as(rewards)
        advantages = rewards - mean_grouped
        if scale_rewards != "none":
            advantages = advantages / (std + 1e-4)
        return torch.nan_to_num(advantages, nan=0.0)

    @staticmethod
    def grpo_loss(
        per_token_logps, old, ref, advantages, mask, loss_type, eps, eps_high, beta, delta, level, L, n
    ):
        epsilon_low, epsilon_high = eps, (eps_high if eps_high is not None else eps)
        advantages = advantages.unsqueeze(1)
        log_ratio = per_token_logps - old
        if level == "token":
            log_importance_weights = log_ratio
        else:
            log_importance_weights = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).unsqueeze(-1)
        coef_1 = torch.exp(log_importance_weights)
        if beta != 0.0:
            per_token_kl = torch.exp(ref - per_token_logps) - (ref - per_token_logps) - 1
        if loss_type == "cispo":
            clamped_ratios = torch.clamp(coef_1, max=epsilon_high).detach()
            per_token_loss = -clamped_ratios * advantages * per_token_logps
        else:
            coef_2 = torch.clamp(coef_1, 1 - epsilon_low, 1 + epsilon_high)
            if delta is not None:
                coef_1 = torch.clamp(coef_1, max=delta)
            per_token_loss = -torch.min(coef_1 * advantages, coef_2 * advantages)
        if beta != 0.0:
            per_token_loss = per_token_loss + beta * per_token_kl
        if loss_type == "grpo":
            return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
        if loss_type == "bnpo":
            return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
        if loss_type == "dr_grpo":
            return (per_token_loss * mask).sum() / (per_token_loss.size(0) * L)
        return (per_token_loss * mask).sum() / n.clamp(min=1.0)

    @classmethod
    def rloo_advantages(cls, rewards, num_generations, normalize):
        grouped = rewards.view(-1, num_generations)
        scorable = (~torch.isnan(grouped)).sum(dim=1, keepdim=True)
        grouped_sum = torch.nansum(grouped, dim=1, keepdim=True)
        advantages = rewards - ((grouped_sum - grouped) / (scorable - 1)).view(-1)
        if normalize:
            advantages = (advantages - torch.nanmean(advantages)) / (cls.nanstd(advantages) + 1e-4)
        return torch.nan_to_num(advantages, nan=0.0)

    @staticmethod
    def rloo_loss(per_token_logps, old_per_token_logps, advantages, mask, eps, eps_high):
        logps = (per_token_logps * mask).sum(1)
        old_logps = (old_per_token_logps * mask).sum(1)
        coef_1 = torch.exp(logps - old_logps)
        coef_2 = torch.clamp(coef_1, 1 - eps, 1 + (eps_high if eps_high is not None else eps))
        return (-torch.min(coef_1 * advantages, coef_2 * advantages)).mean()

    @staticmethod
    def dpo_sigmoid(chosen, rejected, ref_chosen, ref_rejected, beta):
        delta_score = (chosen - ref_chosen) - (rejected - ref_rejected)
        return (-F.logsigmoid(beta * delta_score)).mean()


def random_batch(seed, B=6, T=7, spread=0.3):
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(B, T, generator=g) * 3
    old = logp + torch.randn(B, T, generator=g) * spread
    ref = logp + torch.randn(B, T, generator=g) * spread
    adv = torch.randn(B, generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).float()
    mask[0] = 0.0  # an empty completion: all clamps must agree
    return logp, old, ref, adv, mask


OPTIONS = list(
    itertools.product(LOSS_TYPES, [0.0, 0.04], [None, 0.28], [None, 1.5], ["token", "sequence"], [None, 64.0])
)


@pytest.mark.parametrize("loss_type, beta, eps_high, delta, level, n_items", OPTIONS)
def test_grpo_loss_equals_trl_formulas(loss_type, beta, eps_high, delta, level, n_items):
    if loss_type == "cispo" and eps_high is None:
        eps_high = 5.0  # TRL's recommended CISPO upper bound
    for seed in range(3):
        logp, old, ref, adv, mask = random_batch(seed)
        logp_a = logp.clone().requires_grad_(True)
        logp_b = logp.clone().requires_grad_(True)
        ours = grpo_loss(
            logp_a,
            old,
            ref if beta else None,
            adv,
            mask,
            loss_type=loss_type,
            epsilon=0.2,
            epsilon_high=eps_high,
            beta=beta,
            delta=delta,
            importance_sampling_level=level,
            max_completion_length=10,
            num_items_in_batch=n_items,
        )
        n = torch.tensor(n_items) if n_items is not None else mask.sum()
        theirs = Trl1160.grpo_loss(
            logp_b, old, ref, adv, mask, loss_type, 0.2, eps_high, beta, delta, level, 10, n
        )
        assert torch.equal(ours, theirs), (ours.item(), theirs.item())
        ours.backward()
        theirs.backward()
        assert torch.equal(logp_a.grad, logp_b.grad)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_group_advantages_equal_trl(scale):
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        rewards = torch.randint(0, 3, (24,), generator=g).float() + torch.rand(24, generator=g) * (seed % 2)
        rewards[5] = float("nan")
        assert torch.equal(group_advantages(rewards, 4, scale), Trl1160.grpo_advantages(rewards, 4, scale))


@pytest.mark.parametrize("normalize", [False, True])
def test_rloo_equals_trl(normalize):
    for seed in range(5):
        logp, old, ref, adv, mask = random_batch(seed, B=8)
        rewards = torch.rand(8, generator=torch.Generator().manual_seed(seed))
        shaped, _ = rloo_kl_penalty(rewards, old, ref, mask, beta=0.05)
        theirs_shaped = rewards - 0.05 * ((old - ref) * mask).sum(-1)
        assert torch.equal(shaped, theirs_shaped)
        a = rloo_advantages(shaped, 4, normalize)
        assert torch.equal(a, Trl1160.rloo_advantages(shaped, 4, normalize))
        for eps_high in (None, 0.28):
            ours = rloo_loss(logp, old, a, mask, epsilon=0.2, epsilon_high=eps_high)
            assert torch.equal(ours, Trl1160.rloo_loss(logp, old, a, mask, 0.2, eps_high))


def test_dpo_equals_trl():
    g = torch.Generator().manual_seed(0)
    c, r, rc, rr = (-torch.rand(16, generator=g) * 20 for _ in range(4))
    for beta in (0.1, 0.5):
        assert torch.equal(dpo_loss(c, r, rc, rr, beta=beta)[0], Trl1160.dpo_sigmoid(c, r, rc, rr, beta))


# --- TRL itself (skipped when trl is not installed) ------------------------------------------------


def _accelerator():
    return SimpleNamespace(
        num_processes=1,
        device=torch.device("cpu"),
        reduce=lambda x, reduction="sum": x,
        gather=lambda x: x,
        gather_for_metrics=lambda x: x,
    )


def _trl_grpo_self(logp, loss_type, beta, eps_high, delta, level):
    return SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logp, torch.zeros_like(logp), None),
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level=level,
        beta=beta,
        loss_type=loss_type,
        epsilon_low=0.2,
        epsilon_high=eps_high if eps_high is not None else 0.2,
        use_vllm=False,
        vllm_importance_sampling_correction=False,
        model=SimpleNamespace(training=True),
        current_gradient_accumulation_steps=1,
        max_completion_length=10,
        accelerator=_accelerator(),
        args=SimpleNamespace(use_bias_correction_kl=False, delta=delta, steps_per_generation=1),
        aux_loss_enabled=False,
        _entropy_bonus_enabled=False,
        _metrics=defaultdict(lambda: defaultdict(list)),
    )


@pytest.mark.parametrize("loss_type, beta, eps_high, delta, level", [o[:5] for o in OPTIONS if o[5] is None])
def test_grpo_loss_equals_trl_itself(loss_type, beta, eps_high, delta, level):
    trl = pytest.importorskip("trl", reason="trl not installed (pip install trl==1.16.0, benchmark extra)")
    if trl.__version__ != "1.16.0":
        pytest.skip(f"parity is pinned to trl 1.16.0, found {trl.__version__}")
    from trl.trainer.grpo_trainer import GRPOTrainer

    if loss_type == "cispo" and eps_high is None:
        eps_high = 5.0
    for seed in range(2):
        logp, old, ref, adv, mask = random_batch(seed)
        B, T = mask.shape
        inputs = {
            "prompt_ids": torch.zeros(B, 1, dtype=torch.long),
            "prompt_mask": torch.ones(B, 1),
            "completion_ids": torch.zeros(B, T, dtype=torch.long),
            "completion_mask": mask,
            "advantages": adv,
            "old_per_token_logps": old,
            "ref_per_token_logps": ref,
            "num_items_in_batch": mask.sum(),
        }
        fake = _trl_grpo_self(logp, loss_type, beta, eps_high, delta, level)
        theirs = GRPOTrainer._compute_loss(fake, None, inputs)
        ours = grpo_loss(
            logp,
            old,
            ref if beta else None,
            adv,
            mask,
            loss_type=loss_type,
            epsilon=0.2,
            epsilon_high=eps_high,
            beta=beta,
            delta=delta,
            importance_sampling_level=level,
            max_completion_length=10,
        )
        assert torch.equal(ours, theirs), (loss_type, ours.item(), theirs.item())


def test_rloo_and_dpo_equal_trl_itself():
    trl = pytest.importorskip("trl", reason="trl not installed (pip install trl==1.16.0, benchmark extra)")
    if trl.__version__ != "1.16.0":
        pytest.skip(f"parity is pinned to trl 1.16.0, found {trl.__version__}")
    from trl.trainer.dpo_trainer import DPOTrainer
    from trl.trainer.rloo_trainer import RLOOTrainer

    logp, old, ref, adv, mask = random_batch(0, B=8)
    B, T = mask.shape
    fake = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logp, torch.zeros_like(logp), None),
        epsilon_low=0.2,
        epsilon_high=0.28,
        model=SimpleNamespace(training=True),
        accelerator=_accelerator(),
        aux_loss_enabled=False,
        _metrics=defaultdict(lambda: defaultdict(list)),
    )
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long),
        "prompt_mask": torch.ones(B, 1),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": mask,
        "advantages": adv,
        "old_logps": (old * mask).sum(1),
    }
    theirs = RLOOTrainer._compute_loss(fake, None, inputs)
    assert torch.equal(rloo_loss(logp, old, adv, mask, epsilon=0.2, epsilon_high=0.28), theirs)

    # DPO: the model returns per-token log-probs of [chosen; rejected] (already zero off the completion)
    pairs = 4
    tok_logp = -torch.rand(2 * pairs, T - 1, generator=torch.Generator().manual_seed(1)) * 2
    cmask = torch.ones(2 * pairs, T)
    outputs = SimpleNamespace(
        log_probs=tok_logp,
        entropy=torch.zeros_like(tok_logp),
        mean_logits=torch.zeros_like(tok_logp),
        is_top1=torch.zeros_like(tok_logp, dtype=torch.bool),
    )
    ref_c, ref_r = -torch.rand(pairs) * 5, -torch.rand(pairs) * 5
    dpo_self = SimpleNamespace(
        accelerator=_accelerator(),
        aux_loss_enabled=False,
        ld_alpha=None,
        precompute_ref_logps=True,
        f_divergence_type="reverse_kl",
        loss_types=["sigmoid"],
        loss_weights=[1.0],
        beta=0.1,
        use_weighting=False,
        _metrics=defaultdict(lambda: defaultdict(list)),
        _total_train_tokens=0,
        _tp_size=1,
    )
    dpo_inputs = {
        "input_ids": torch.zeros(2 * pairs, T, dtype=torch.long),
        "attention_mask": cmask,
        "completion_mask": cmask,
        "ref_chosen_logps": ref_c,
        "ref_rejected_logps": ref_r,
    }

    class FakeModel:
        training = True

        def __call__(self, **kwargs):
            return outputs

    dpo_self.model = FakeModel()
    theirs = DPOTrainer._compute_loss(dpo_self, dpo_self.model, dpo_inputs, return_outputs=False)
    theirs = theirs[0] if isinstance(theirs, tuple) else theirs
    seq = tok_logp.sum(1)
    ours = dpo_loss(seq[:pairs], seq[pairs:], ref_c, ref_r, beta=0.1)[0]
    assert torch.equal(ours, theirs)
