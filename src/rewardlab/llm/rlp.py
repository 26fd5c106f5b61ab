"""RLP: Reinforcement as a Pretraining Objective (Hatamizadeh et al. 2025, NVIDIA, arXiv 2510.01265).

Thinking before predicting the next token is rewarded by how much the thought helps predict it.
For a position t of a document x, G thoughts c_i ~ pi_theta(. | x_<t) are sampled and each earns
the information gain

    r(c) = log p_theta(x_t | x_<t, c) - log p_EMA(x_t | x_<t)

over a no-think EMA teacher (phi <- tau phi + (1 - tau) theta after every update, tau = 0.999,
initialised to theta). Its expectation over x_t ~ p* is CE(p*, p_EMA) - CE(p*, p_theta(. | c))
(the paper's Proposition 1; :func:`expected_information_gain`). Advantages are group-relative,
``A_i = G / (G - 1) * (r_i - mean_j r_j)`` (equal to the leave-one-out baseline r_i - mean_{j!=i} r_j),
and only the thought tokens are trained, with the clipped per-token ratio surrogate; there is no
next-token loss and no KL.

The reference is the paper (github.com/NVlabs/RLP ships only the PDF: Alg. 1, Eq. 5-8, App. 9).
Our choices where it leaves room (docs/lm_optimisers_rover_rlp.md): documents are the task's
``prompt + " " + reference`` texts and t is drawn among the reference's tokens (where a thought can
help); a thought is at most ``max_completion_length`` tokens and is closed by ``thought_end``; the
surrogate is averaged per thought then over thoughts (``loss_type = "grpo"``); with LoRA the EMA is
kept over the adapter weights.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from rewardlab.core.state import VALUE
from rewardlab.errors import ConfigError
from rewardlab.llm.grpo import LOSS_TYPES, grpo_loss_terms
from rewardlab.llm.online import OnlineConfig, OnlineRL
from rewardlab.llm.policy import Batch
from rewardlab.llm.sampling import completion_logprobs


def information_gain_reward(
    logp_with_thought: torch.Tensor, logp_ema_no_thought: torch.Tensor
) -> torch.Tensor:
    """``r = log p_theta(x_t | x_<t, c) - log p_EMA(x_t | x_<t)`` (detached: a reward, not a loss)."""
    return (logp_with_thought - logp_ema_no_thought).detach()


def rlp_advantages(rewards: torch.Tensor, num_generations: int) -> torch.Tensor:
    """``A_i = G / (G - 1) * (r_i - mean of its group)``; the G thoughts of a position consecutive."""
    if num_generations < 2:
        raise ConfigError(
            f"num_generations={num_generations}: RLP's advantage G/(G-1) (r - mean) needs at least 2 "
            f"thoughts per position. Valid: {VALID_COMBINATIONS}"
        )
    if rewards.dim() != 1 or rewards.numel() % num_generations:
        raise ConfigError(
            f"rewards must be 1-D with a length that is a multiple of num_generations={num_generations}; "
            f"got shape {tuple(rewards.shape)}"
        )
    grouped = rewards.view(-1, num_generations)
    centred = grouped - grouped.mean(1, keepdim=True)
    return (num_generations / (num_generations - 1) * centred).reshape(-1)


def expected_information_gain(
    p_star: torch.Tensor, logp_ema: torch.Tensor, logp_thought: torch.Tensor
) -> torch.Tensor:
    """``CE(p*, p_EMA) - CE(p*, p_theta(. | c))``: the expected reward the proposition states."""
    return -(p_star * logp_ema).sum(-1) + (p_star * logp_thought).sum(-1)


VALID_COMBINATIONS = (
    "rlp: num_generations >= 2 thoughts per position, beta = 0 (no KL), num_iterations = 1, "
    "0 <= ema_decay < 1"
)


@dataclass
class RLPConfig(OnlineConfig):
    """RLP hyper-parameters; the paper's values where it gives them (Sec. 4 / App. 9)."""

    learning_rate: float = 1e-6  # paper: 1e-6 (full weights)
    num_generations: int = 16  # paper: 16 rollouts (thoughts) per position
    temperature: float = 0.7  # paper: thoughts sampled at 0.7
    max_completion_length: int = 64  # thought tokens (paper: 2048; kept short for CPU)
    ema_decay: float = 0.999  # paper: tau = 0.999
    epsilon: float = 0.2  # lower clip eps_l (the paper's values are not stated; DAPO's)
    epsilon_high: float = 0.28  # upper clip eps_h
    loss_type: str = "grpo"  # per-thought token mean, then mean over thoughts
    thought_end: str = "\n"  # text closing a thought before the predicted token
    document_format: str = "{prompt} {reference}"  # how a task example becomes a document

    def validate(self) -> None:
        if self.num_generations < 2:
            raise ConfigError(
                f"num_generations={self.num_generations}: RLP's group advantage needs >= 2 thoughts per "
                f"position. Valid: {VALID_COMBINATIONS}"
            )
        if self.beta != 0.0:
            raise ConfigError(f"beta={self.beta}: RLP has no KL term. Valid: {VALID_COMBINATIONS}")
        if self.num_iterations != 1:
            raise ConfigError(
                f"num_iterations={self.num_iterations}: RLP here takes one on-policy step per batch. "
                f"Valid: {VALID_COMBINATIONS}"
            )
        super().validate()
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(
                f"ema_decay must be in [0, 1), got {self.ema_decay}. Valid: {VALID_COMBINATIONS}"
            )
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"loss_type {self.loss_type!r} is not one of {', '.join(LOSS_TYPES)}")
        if "{reference}" not in self.document_format:
            raise ConfigError(f"document_format {self.document_format!r} must contain {{reference}}")


class RLP(OnlineRL):
    """RLP on a causal LM: thoughts rewarded by information gain over a no-think EMA teacher."""

    config_class = RLPConfig
    summary = (
        "RLP (reinforcement as a pretraining objective): thoughts rewarded by next-token information gain"
    )
    config: RLPConfig
    curve_metric = "reward"
    state_fields = {"ema": VALUE}

    def __init__(self, config: RLPConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        # phi starts at theta (the paper sets it lazily at the first step, before any update)
        self.ema = self.policy.trainable_state_dict()

    # ---- the EMA teacher ----------------------------------------------------------------------
    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        current = self.policy.trainable_state_dict()
        self.policy.load_trainable_state_dict(self.ema)
        try:
            yield
        finally:
            self.policy.load_trainable_state_dict(current)

    @torch.no_grad()
    def update_ema(self) -> None:
        tau = self.config.ema_decay
        params = dict(self.policy.model.named_parameters())
        for name, value in self.ema.items():
            value.mul_(tau).add_(params[name].detach(), alpha=1.0 - tau)

    # ---- documents and positions --------------------------------------------------------------
    def document(self, example: Any) -> tuple[list[int], int]:
        """Token ids of the example's document and where its reference starts."""
        tok = self.policy.tokenizer
        head, _, _ = self.config.document_format.partition("{reference}")
        prefix = head.format(prompt=example.prompt)
        text = self.config.document_format.format(prompt=example.prompt, reference=example.reference)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        start = len(tok(prefix, add_special_tokens=False)["input_ids"])
        return ids, min(max(start, 1), len(ids) - 1)

    def positions(self, examples: list[Any], generator: Any) -> list[tuple[list[int], int]]:
        """(document ids, t) with t uniform over each document's reference tokens."""
        out = []
        for ex in examples:
            ids, start = self.document(ex)
            out.append((ids, int(generator.integers(start, len(ids)))))
        return out

    def left_pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.policy.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r) :] = torch.tensor(r)
            mask[i, width - len(r) :] = 1
        return ids, mask

    # ---- log-likelihoods of x_t ----------------------------------------------------------------
    @torch.no_grad()
    def next_token_logprob(self, contexts: list[list[int]], targets: list[int]) -> torch.Tensor:
        """log p(x_t | context) under the current weights, in micro-batches (temperature 1)."""
        out = []
        for rows in self.micro_slices_plain(len(contexts)):
            ids, mask = self.left_pad(contexts[rows])
            target = torch.tensor(targets[rows])[:, None]
            out.append(completion_logprobs(self.policy.model, ids, mask, target)[:, 0])
        return torch.cat(out)

    def micro_slices_plain(self, n: int) -> list[slice]:
        m = self.config.micro_batch_size
        return [slice(i, min(i + m, n)) for i in range(0, n, m)]

    def thought_contexts(self, prefixes: list[list[int]], thoughts: Batch, group: int) -> list[list[int]]:
        """x_<t + thought (its EOS dropped) + thought_end, one per thought."""
        end = self.policy.tokenizer(self.config.thought_end, add_special_tokens=False)["input_ids"]
        eos = self.policy.eos_token_id
        out = []
        for i, (ids, mask) in enumerate(zip(thoughts.completion_ids, thoughts.completion_mask)):
            thought = [t for t in ids[mask.bool()].tolist() if t != eos]
            out.append(prefixes[i // group] + thought + end)
        return out

    def information_gain(self, docs: list[tuple[list[int], int]], group: int) -> dict[str, Any]:
        """Sample ``group`` thoughts per position and score them; the pieces a step or evaluation needs."""
        cfg = self.config
        prefixes = [ids[:t] for ids, t in docs]
        targets = [ids[t] for ids, t in docs]
        prompt_ids, prompt_mask = self.left_pad(prefixes)
        start = time.perf_counter()
        thoughts = self.policy.generate(
            prompt_ids,
            prompt_mask,
            num_generations=group,
            max_new_tokens=cfg.max_completion_length,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
        )
        generate_s = time.perf_counter() - start
        repeated_targets = [x for x in targets for _ in range(group)]
        with_thought = self.next_token_logprob(
            self.thought_contexts(prefixes, thoughts, group), repeated_targets
        )
        no_thought = self.next_token_logprob(prefixes, targets)
        with self.ema_weights():
            ema_no_thought = self.next_token_logprob(prefixes, targets)
        rewards = information_gain_reward(with_thought, ema_no_thought.repeat_interleave(group))
        return {
            "thoughts": thoughts,
            "prefixes": prefixes,
            "rewards": rewards,
            "with_thought": with_thought,
            "no_thought": no_thought,
            "ema_no_thought": ema_no_thought,
            "generate_s": generate_s,
        }

    # ---- one iteration ------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        cfg = self.config
        G = cfg.num_generations
        start = time.perf_counter()
        docs = self.positions(self.next_examples(cfg.batch_size), self.np_rng)
        self.policy.model.eval()
        parts = self.information_gain(docs, G)
        batch, rewards = parts["thoughts"], parts["rewards"]
        advantages = rlp_advantages(rewards, G)
        self._record_thoughts(parts, G)

        self.policy.model.train()
        mask = batch.completion_mask
        num_tokens = mask.sum().float()
        totals = {"loss": 0.0, "clip_low": 0.0, "clip_high": 0.0, "clip_fraction": 0.0}
        slices = self.micro_slices(len(batch))
        for rows in slices:
            mb = batch.rows(rows)
            logprobs = self.policy.logprobs(mb, cfg.temperature, group_size=self.group_size())
            out = grpo_loss_terms(
                logprobs,
                None,
                None,
                advantages[rows],
                mb.completion_mask,
                loss_type=cfg.loss_type,
                epsilon=cfg.epsilon,
                epsilon_high=cfg.epsilon_high,
                max_completion_length=cfg.max_completion_length,
                num_items_in_batch=num_tokens,
            )
            # each micro-batch's loss is a mean over its own rows (or the batch's tokens for dapo)
            weight = 1.0 if cfg.loss_type in ("dapo", "cispo") else (rows.stop - rows.start) / len(batch)
            (out.loss * weight).backward()
            totals["loss"] += float(out.loss.detach()) * weight
            share = float(mb.completion_mask.sum() / num_tokens.clamp(min=1))
            for key in ("clip_low", "clip_high", "clip_fraction"):
                totals[key] += float(getattr(out, key)) * share
        metrics: dict[str, float] = {
            "reward": float(rewards.mean()),
            "reward_std": float(rewards.std()),
            "loglik_think": float(parts["with_thought"].mean()),
            "loglik_no_think": float(parts["no_thought"].mean()),
            "loglik_ema_no_think": float(parts["ema_no_thought"].mean()),
            "thought_length": float(mask.sum(1).float().mean()),
            "advantage_abs_mean": float(advantages.abs().mean()),
            "time/generate": parts["generate_s"],
            **totals,
        }
        metrics["grad_norm"] = self.optimizer_step()
        self.update_ema()
        metrics["lr"] = self.current_lr()
        metrics["epoch"] = float(self.epoch)
        metrics["time/step"] = time.perf_counter() - start
        return metrics

    def _record_thoughts(self, parts: dict[str, Any], group: int) -> None:
        tok = self.policy.tokenizer
        texts = self.policy.decode(parts["thoughts"])
        self._samples = [
            {
                "prompt": tok.decode(parts["prefixes"][i // group]),
                "completion": text,
                "reward": float(parts["rewards"][i]),
            }
            for i, text in enumerate(texts)
        ]

    # ---- evaluation: held-out next-token log-likelihood -----------------------------------------
    def evaluate(self, episodes: int) -> dict[str, Any]:
        """On the first ``episodes`` test documents, at every reference token: the mean
        log-likelihood of x_t given one sampled thought, without a thought, and under the EMA
        teacher without a thought. Thoughts are drawn from a fixed seed without touching the
        training generators, so evaluations compare across runs and do not shift training."""
        examples = list(self.task.examples("test"))[:episodes]
        docs = [(ids, t) for ids, start in map(self.document, examples) for t in range(start, len(ids))]
        was_training = self.policy.model.training
        self.policy.model.eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed + 1)
            parts = self.information_gain(docs, 1)
        self.policy.model.train(was_training)
        think = float(parts["with_thought"].mean())
        ema = float(parts["ema_no_thought"].mean())
        return {
            "positions": len(docs),
            "loglik_think": think,
            "loglik_no_think": float(parts["no_thought"].mean()),
            "loglik_ema_no_think": ema,
            "information_gain": think - ema,
        }


__all__ = [
    "RLP",
    "RLPConfig",
    "expected_information_gain",
    "information_gain_reward",
    "rlp_advantages",
]
