"""The language-model policy: a model with its tokenizer, LoRA, chat prompts, and the batched
sampling and log-probabilities the LM algorithms train with.

Loading lives in :mod:`rewardlab.llm.models`, sampling and log-probabilities in
:mod:`rewardlab.llm.sampling`, the memory estimate in :mod:`rewardlab.llm.memory`; this module is
the :class:`Policy` that puts them together and its :class:`PolicyConfig`.
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from rewardlab.config import RunConfig
from rewardlab.core.device import check_device
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.llm.memory import available_memory_bytes, check_memory, estimate_memory_bytes
from rewardlab.llm.models import DTYPES, SMOLLM2, add_lora, load_model, prepare_tokenizer
from rewardlab.llm.sampling import (
    completion_logprobs,
    sample_completions,
    shared_prompt_logprobs,
)

TRUNCATION = ("left", "error")


def machine_cores() -> int:
    """The default torch threads for LM work: the machine's cores. It does not depend on the load at
    start-up, so two identical commands resolve the same config; the run warns when it exceeds the
    cores free at that moment (rewardlab.api.thread_warning, see DESIGN.md, Threads)."""
    return os.cpu_count() or 1


@dataclass
class PolicyConfig(RunConfig):
    """What every LM algorithm needs to build its policy (shared by GRPO, RLOO and DPO configs)."""

    model: str = SMOLLM2  # a name (smollm2-135m-instruct, tiny-random-llama), a directory or a .gguf file
    dtype: str = "float32"  # GGUF weights are de-quantized to this; fp32 is the fast choice on CPU
    num_threads: int = field(default_factory=machine_cores)  # torch threads: the machine's cores for LM work
    # LoRA (PEFT). r 0 trains all weights. rank/alpha/targets as the calibration run in
    # docs/calibration.md (r 16, alpha 32, all linear layers).
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    use_chat_template: bool = True  # wrap text prompts as a user message (ignored without a template)
    system_prompt: str = ""  # optional system message ("" keeps the template's own default)
    max_prompt_length: int = 512  # tokens; longer prompts are truncated or refused (prompt_truncation)
    prompt_truncation: str = "left"  # "left": keep the end, warn and count; "error": refuse
    micro_batch_size: int = 16  # sequences per forward/backward pass (the memory knob)
    check_memory: bool = True  # estimate memory before starting and refuse a config that cannot fit

    def validate(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.prompt_truncation not in TRUNCATION:
            raise ConfigError(
                f"prompt_truncation {self.prompt_truncation!r} is not one of {', '.join(TRUNCATION)}"
            )
        for key in ("max_prompt_length", "micro_batch_size", "num_threads"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.lora_r < 0:
            raise ConfigError(f"lora_r must be >= 0 (0 = train all weights), got {self.lora_r}")


# ---------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Token ids of prompts (left-padded) and completions (right-padded), with their masks.

    ``completion_mask`` is the attention mask of the completion part. ``loss_mask`` (multi-turn
    agents, ``rewardlab.agents``) marks the tokens the loss trains on when it differs (environment
    tokens inside a completion are attended to but not trained); None means ``completion_mask``.
    ``logprobs``: the sampled tokens' log-probs when ``generate(return_logprobs=True)``.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    loss_mask: torch.Tensor | None = None
    logprobs: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.prompt_ids.shape[0]

    def rows(self, index: slice | torch.Tensor) -> Batch:
        return Batch(
            self.prompt_ids[index],
            self.prompt_mask[index],
            self.completion_ids[index],
            self.completion_mask[index],
            None if self.loss_mask is None else self.loss_mask[index],
            None if self.logprobs is None else self.logprobs[index],
        )

    @property
    def trained_mask(self) -> torch.Tensor:
        """The mask the loss uses: ``loss_mask`` when set, else ``completion_mask``."""
        return self.completion_mask if self.loss_mask is None else self.loss_mask


class Policy:
    """A causal LM with its tokenizer, optional LoRA, prompt formatting and sampling."""

    def __init__(self, model: Any, tokenizer: Any, cfg: PolicyConfig) -> None:
        self.cfg = cfg
        self.tokenizer = prepare_tokenizer(tokenizer)
        self.lora = cfg.lora_r > 0
        self.model = add_lora(model, cfg) if self.lora else model
        #: where the model and every batch live (``cfg.device``); ``.cpu()`` at the tokenizer boundary
        self.device = check_device(cfg.device)
        if self.model is not None:
            self.model.to(self.device)  # on the CPU: the model itself, nothing copied
        self._reference: Any = None
        #: prompts truncated from the left so far (reported as a metric)
        self.truncated_prompts = 0
        #: warn (warnings.warn) at the 1st, 10th, 100th... truncation; algorithms report through the Run instead
        self.warn_on_truncation = True
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.eos_token_id = self.tokenizer.eos_token_id
        self.pad_token_id = self.tokenizer.pad_token_id

    @classmethod
    def from_config(cls, cfg: PolicyConfig) -> Policy:
        model, tokenizer = load_model(cfg.model, dtype=cfg.dtype)
        return cls(model, tokenizer, cfg)

    # ---- parameters -------------------------------------------------------------------------
    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The LoRA adapter weights (LoRA) or all weights, cloned."""
        names = {n for n, p in self.model.named_parameters() if p.requires_grad}
        return {k: v.detach().clone() for k, v in self.model.state_dict().items() if k in names}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.trainable_state_dict()) - set(state)
        if missing:
            raise ConfigError(
                f"checkpoint lacks {len(missing)} trainable tensors (e.g. {sorted(missing)[0]!r}); "
                "was it saved with another model or LoRA setting?"
            )
        self.model.load_state_dict(state, strict=False)

    def parameters_finite(self) -> str | None:
        for name, p in self.model.named_parameters():
            if p.requires_grad and not torch.isfinite(p).all():
                return name
        return None

    # ---- reference policy -------------------------------------------------------------------
    def freeze_reference(self) -> None:
        """Without LoRA, keep a frozen copy of the current weights as the reference (call it
        before training); with LoRA nothing is copied (the reference is the adapter disabled)."""
        if not self.lora and self._reference is None:
            self._reference = copy.deepcopy(self.model).eval()
            for p in self._reference.parameters():
                p.requires_grad_(False)

    @contextlib.contextmanager
    def reference(self) -> Iterator[Any]:
        """The reference model: the base with the adapter disabled (LoRA), else a frozen copy."""
        if self.lora:
            with self.model.disable_adapter():
                yield self.model
            return
        self.freeze_reference()
        yield self._reference

    # ---- prompts ----------------------------------------------------------------------------
    def format_prompt(self, prompt: str | list[dict[str, Any]]) -> str:
        """Prompt text the model sees: the chat template applied to the messages when there is one."""
        if isinstance(prompt, str):
            if not (self.cfg.use_chat_template and self.has_chat_template):
                return prompt
            messages = [{"role": "user", "content": prompt}]
        else:
            messages = list(prompt)
            # use_chat_template = false holds for message prompts too (agent envs give messages); the
            # agent Renderer joins them the same way, so later turns extend this very text
            if not (self.cfg.use_chat_template and self.has_chat_template):
                return "\n".join(str(m.get("content", "")) for m in messages)
        if self.cfg.system_prompt and not any(m.get("role") == "system" for m in messages):
            messages = [{"role": "system", "content": self.cfg.system_prompt}, *messages]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def encode_prompts(
        self, prompts: Sequence[str | list[dict[str, Any]]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded prompt ids and mask; over-long prompts truncated from the left or refused."""
        texts = [self.format_prompt(p) for p in prompts]
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        limit = self.cfg.max_prompt_length
        for i, row in enumerate(ids):
            if len(row) > limit:
                if self.cfg.prompt_truncation == "error":
                    raise RewardlabError(
                        f"prompt {i} has {len(row)} tokens, more than max_prompt_length={limit}: "
                        f'{texts[i][:80]!r}... Raise max_prompt_length or set prompt_truncation = "left".'
                    )
                self.truncated_prompts += 1
                if self.warn_on_truncation and self.truncated_prompts in (1, 10, 100, 1000):
                    warnings.warn(
                        f"{self.truncated_prompts} prompt(s) longer than max_prompt_length={limit} tokens were "
                        "truncated from the left (keeping their end)",
                        stacklevel=2,
                    )
                ids[i] = row[-limit:]
        width = max(len(r) for r in ids)
        prompt_ids = torch.full((len(ids), width), self.pad_token_id, dtype=torch.long)
        prompt_mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, row in enumerate(ids):
            if row:
                prompt_ids[i, width - len(row) :] = torch.tensor(row)
                prompt_mask[i, width - len(row) :] = 1
        return prompt_ids.to(self.device), prompt_mask.to(self.device)

    def encode_completions(
        self, prompts: Sequence[str | list[dict[str, Any]]], texts: Sequence[str], max_length: int
    ) -> Batch:
        """Given (not sampled) completions as a Batch: prompts left-padded, each text + EOS
        right-padded and cut to ``max_length`` tokens (the tokenisation of DPO's pairs, A-LoL's
        responses and DPO's implicit reward)."""
        prompt_ids, prompt_mask = self.encode_prompts(prompts)
        rows = [
            self.tokenizer(text, add_special_tokens=False)["input_ids"][: max_length - 1]
            + [self.eos_token_id]
            for text in texts
        ]
        width = max(len(r) for r in rows)
        completion_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        completion_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            completion_ids[i, : len(r)] = torch.tensor(r)
            completion_mask[i, : len(r)] = 1
        return Batch(prompt_ids, prompt_mask, completion_ids.to(self.device), completion_mask.to(self.device))

    def check_context(self, max_new_tokens: int) -> None:
        ctx = getattr(self.model.config, "max_position_embeddings", None)
        if ctx is not None and self.cfg.max_prompt_length + max_new_tokens > ctx:
            raise ConfigError(
                f"max_prompt_length ({self.cfg.max_prompt_length}) + max_completion_length ({max_new_tokens}) "
                f"exceeds the model's context of {ctx} tokens; lower one of them"
            )

    # ---- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompt_ids: torch.Tensor,
        prompt_mask: torch.Tensor,
        *,
        max_new_tokens: int,
        num_generations: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        greedy: bool = False,
        return_logprobs: bool = False,
    ) -> Batch:
        """``num_generations`` completions of each prompt (rows of a group consecutive), stopping at
        EOS; see :func:`sample_completions`. The batch's prompt rows are repeated to match.
        ``return_logprobs`` fills ``Batch.logprobs`` with the sampled tokens' log-probs."""
        prompt_ids, prompt_mask = prompt_ids.to(self.device), prompt_mask.to(self.device)
        was_training = self.model.training
        self.model.eval()
        try:
            out = sample_completions(
                self.model,
                prompt_ids,
                prompt_mask,
                num_generations=num_generations,
                max_new_tokens=max_new_tokens,
                eos_token_id=self.eos_token_id,
                pad_token_id=self.pad_token_id,
                temperature=temperature,
                top_p=top_p,
                greedy=greedy,
                return_logprobs=return_logprobs,
            )
        finally:
            self.model.train(was_training)
        return Batch(
            prompt_ids.repeat_interleave(num_generations, dim=0),
            prompt_mask.repeat_interleave(num_generations, dim=0),
            out[0],
            out[1],
            logprobs=out[2] if return_logprobs else None,
        )

    def decode(self, batch: Batch) -> list[str]:
        texts = []
        for ids, mask in zip(batch.completion_ids, batch.completion_mask):
            kept = ids[mask.bool()].tolist()
            texts.append(self.tokenizer.decode(kept, skip_special_tokens=True))
        return texts

    # ---- log-probabilities ------------------------------------------------------------------
    def logprobs(
        self,
        batch: Batch,
        temperature: float = 1.0,
        *,
        reference: bool = False,
        group_size: int = 1,
        vocab_mean: bool = False,
        return_hidden: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Per-token log-probs of the batch's completions (with gradients unless ``reference``).
        ``group_size > 1``: rows come in groups sharing one prompt, which is run once per group.
        ``vocab_mean``: (batch, tokens, 2) with the vocabulary mean of the log-probs second.
        ``return_hidden``: also the last hidden state at each completion token (a value head's input)."""
        if reference:
            with torch.no_grad(), self.reference() as ref:
                return self._logprobs(
                    ref, batch, temperature, group_size, vocab_mean=vocab_mean, return_hidden=return_hidden
                )
        return self._logprobs(
            self.model, batch, temperature, group_size, vocab_mean=vocab_mean, return_hidden=return_hidden
        )

    @staticmethod
    def _logprobs(
        model: Any,
        batch: Batch,
        temperature: float,
        group_size: int,
        *,
        vocab_mean: bool = False,
        return_hidden: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if group_size > 1:
            return shared_prompt_logprobs(
                model,
                batch.prompt_ids[::group_size],
                batch.prompt_mask[::group_size],
                batch.completion_ids,
                batch.completion_mask,
                group_size=group_size,
                temperature=temperature,
                vocab_mean=vocab_mean,
                return_hidden=return_hidden,
            )
        return completion_logprobs(
            model,
            batch.prompt_ids,
            batch.prompt_mask,
            batch.completion_ids,
            batch.completion_mask,
            temperature=temperature,
            vocab_mean=vocab_mean,
            return_hidden=return_hidden,
        )

    # ---- memory -----------------------------------------------------------------------------
    def memory_check(
        self, *, sequences_per_pass: int, completion_length: int, reference_copy: bool, knob: str
    ) -> dict:
        parts = estimate_memory_bytes(
            self.model,
            sequences_per_pass=sequences_per_pass,
            sequence_length=self.cfg.max_prompt_length + completion_length,
            completion_length=completion_length,
            trainable_params=sum(p.numel() for p in self.trainable_parameters()),
            reference_copy=reference_copy,
        )
        if self.cfg.check_memory:
            check_memory(parts, available_memory_bytes(self.cfg.device), knob)
        return parts


__all__ = ["Batch", "Policy", "PolicyConfig", "machine_cores"]
