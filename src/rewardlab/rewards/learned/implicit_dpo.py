"""The implicit reward of a DPO-trained policy, ``beta * (log pi(y|x) - log pi_ref(y|x))``.

DPO's optimum ties the policy to a reward (Rafailov et al. 2023, Eq. 5): up to a prompt-only term,
``r(x, y) = beta log pi(y|x) / pi_ref(y|x)``. DeformPAM scores candidate actions with exactly this
difference between its DPO-fine-tuned and its supervised diffusion policy and keeps the argmax
(reward-guided action selection); NORA-1.5 trains with the same objective. As a ``Reward`` it
plugs into :func:`~rewardlab.rewards.selection.best_of_n` and ``rewardlab eval --best-of``.

Log-probabilities are sums over the completion's tokens plus the EOS token, as rewardlab's DPO
trains them (:meth:`rewardlab.llm.dpo.DPO.encode_pairs`), so on a pair this reward equals the
``rewards/chosen`` and ``rewards/rejected`` DPO logs. ``implicit_dpo(run="runs/dpo")`` loads a
DPO run's policy (its newest checkpoint; the reference is the base with the LoRA adapter off) and
its ``beta``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from rewardlab.errors import RewardlabError
from rewardlab.rewards.base import Reward, RewardResult, Sample, Scored, as_samples


def implicit_dpo_reward(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor, mask: torch.Tensor, beta: float
) -> torch.Tensor:
    """``beta * sum_t mask_t (logp_t - ref_logp_t)`` per row; inputs (B, T) per-token log-probs."""
    return beta * ((logprobs - ref_logprobs) * mask).sum(1)


class ImplicitDPOReward(Reward):
    """``beta * (log pi - log pi_ref)`` of a rewardlab LM :class:`~rewardlab.llm.policy.Policy`."""

    name = "implicit_dpo"
    minimum, maximum = -math.inf, math.inf

    def __init__(
        self,
        policy: Any,
        beta: float = 0.1,
        *,
        max_completion_length: int = 256,
        batch_size: int = 16,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        self.policy, self.beta = policy, float(beta)
        self.max_completion_length, self.batch_size = int(max_completion_length), int(batch_size)

    def encode(self, samples: list[Sample]) -> Any:
        """Prompts left-padded; completion + EOS right-padded (DPO's tokenisation)."""
        return self.policy.encode_completions(
            [s.prompt for s in samples], [s.completion for s in samples], self.max_completion_length
        )

    @torch.no_grad()
    def rewards(self, samples: list[Sample]) -> torch.Tensor:
        out = []
        was_training = self.policy.model.training
        self.policy.model.eval()
        try:
            for i in range(0, len(samples), self.batch_size):
                batch = self.encode(samples[i : i + self.batch_size])
                logp = self.policy.logprobs(batch)
                ref = self.policy.logprobs(batch, reference=True)
                out.append(implicit_dpo_reward(logp, ref, batch.completion_mask, self.beta))
        finally:
            self.policy.model.train(was_training)
        return torch.cat(out).double()

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        values = self.rewards(samples).tolist() if samples else []
        scored = []
        for i, (s, v) in enumerate(zip(samples, values)):
            checked = self.check_value(i, s, v)
            scored.append(checked if isinstance(checked, Scored) else Scored(checked))
        return self.assemble(samples, scored)


def implicit_dpo(run: str = "", beta: float | None = None, name: str | None = None) -> ImplicitDPOReward:
    """The implicit reward of a DPO run directory's newest checkpoint (``beta``: the run's, unless given)."""
    from pathlib import Path

    from rewardlab.core.run import load_saved_config, restore

    if not run or not (Path(run) / "config.toml").is_file():
        raise RewardlabError(
            f"reward 'implicit_dpo': run {run!r} is not a run directory; give run = 'runs/dpo' (a `rewardlab "
            "train dpo` run)"
        )
    algo_name, _ = load_saved_config(run)
    if algo_name != "dpo":
        raise RewardlabError(f"reward 'implicit_dpo': {run!r} is a {algo_name!r} run, not a 'dpo' run")
    _, config, algo, _ = restore(run)
    return ImplicitDPOReward(
        algo.policy,
        config.beta if beta is None else beta,
        max_completion_length=config.max_completion_length,
        name=name,
    )
