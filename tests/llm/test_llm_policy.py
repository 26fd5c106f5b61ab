"""The policy: log-probs vs a slow loop, left padding, EOS masks, truncation, LoRA reference,
loading errors and the memory check."""

import warnings

import pytest
import torch
from conftest import tiny_policy

from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.llm.memory import check_memory, estimate_memory_bytes
from rewardlab.llm.models import load_model
from rewardlab.llm.policy import Batch, PolicyConfig
from rewardlab.llm.sampling import completion_logprobs, completion_mask_from_eos
from rewardlab.llm.tiny import PRINTABLE, tiny_llama

pytest.importorskip("transformers", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")
pytest.importorskip("peft", reason="the llm extra is not installed (pip install 'rewardlab[llm]')")


def slow_logprobs(model, prompt, completion, temperature=1.0):
    """One unpadded sequence at a time, full logits, log_softmax: the obvious definition."""
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float() / temperature
    logp = torch.log_softmax(logits, -1)
    return torch.stack([logp[len(prompt) - 1 + t, tok] for t, tok in enumerate(completion)])


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_completion_logprobs_match_slow_loop(temperature):
    model, _ = tiny_llama(num_layers=2)
    model.eval()
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, 90, (n,), generator=g).tolist() for n in (5, 2, 7)]
    completions = [torch.randint(3, 90, (n,), generator=g).tolist() for n in (4, 6, 1)]
    P, T = max(map(len, prompts)), max(map(len, completions))
    prompt_ids = torch.zeros(3, P, dtype=torch.long)
    prompt_mask = torch.zeros(3, P, dtype=torch.long)
    completion_ids = torch.zeros(3, T, dtype=torch.long)
    completion_mask = torch.zeros(3, T, dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        prompt_ids[i, P - len(p) :], prompt_mask[i, P - len(p) :] = torch.tensor(p), 1
        completion_ids[i, : len(c)], completion_mask[i, : len(c)] = torch.tensor(c), 1
    with torch.no_grad():
        fast = completion_logprobs(
            model, prompt_ids, prompt_mask, completion_ids, completion_mask, temperature=temperature
        )
    for i, (p, c) in enumerate(zip(prompts, completions)):
        torch.testing.assert_close(
            fast[i, : len(c)], slow_logprobs(model, p, c, temperature), atol=1e-5, rtol=1e-5
        )


def test_completion_mask_stops_after_first_eos():
    ids = torch.tensor([[5, 1, 7, 1], [5, 6, 7, 8], [1, 0, 0, 0]])
    assert completion_mask_from_eos(ids, 1).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_sampling_left_pads_stops_at_eos_and_sampled_logprobs_agree():
    cfg = PolicyConfig(lora_r=0, num_threads=1)
    pol = tiny_policy(cfg, chars=PRINTABLE)
    ids, mask = pol.encode_prompts(["12+3=", "7="])
    assert mask.tolist() == [[1] * 5, [0, 0, 0, 1, 1]]
    assert ids[1, :3].tolist() == [pol.pad_token_id] * 3
    # a uniform next-token distribution over 6 tokens: EOS comes early in most rows
    small = tiny_policy(cfg, chars="ab=")
    with torch.no_grad():
        small.model.lm_head.weight.zero_()
    ids, mask = small.encode_prompts(["ab=", "b="])
    torch.manual_seed(0)
    batch = small.generate(ids.repeat(8, 1), mask.repeat(8, 1), max_new_tokens=12, temperature=1.0)
    stopped = 0
    for row, m in zip(batch.completion_ids, batch.completion_mask):
        n = int(m.sum())
        eos = (row == small.eos_token_id).nonzero()
        if len(eos):
            assert n == int(eos[0]) + 1  # EOS included, nothing after
            stopped += 1
        else:
            assert n == batch.completion_ids.shape[1]
    assert stopped >= 8
    pol = small
    texts = pol.decode(batch)
    assert all("<eos>" not in t for t in texts) and len(texts) == 16
    lp = pol.logprobs(batch).detach()
    assert torch.isfinite(lp[batch.completion_mask.bool()]).all() and (lp <= 0).all()


def test_long_prompts_truncated_left_with_count_or_refused():
    cfg = PolicyConfig(lora_r=0, num_threads=1, max_prompt_length=4)
    pol = tiny_policy(cfg, chars=PRINTABLE)
    with pytest.warns(UserWarning, match="1 prompt.*truncated from the left"):
        ids, mask = pol.encode_prompts(["abcdefgh", "ab"])
    assert pol.tokenizer.decode(ids[0]) == "efgh" and pol.truncated_prompts == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pol.encode_prompts(["abcdefgh"])
    assert pol.truncated_prompts == 2
    strict = tiny_policy(
        PolicyConfig(lora_r=0, max_prompt_length=4, prompt_truncation="error"), chars=PRINTABLE
    )
    with pytest.raises(RewardlabError, match="prompt 1 has 6 tokens, more than max_prompt_length=4"):
        strict.encode_prompts(["ab", "abcdef"])
    with pytest.raises(ConfigError, match="exceeds the model's context of 2048"):
        strict.check_context(2100)


def test_chat_template_is_applied():
    cfg = PolicyConfig(lora_r=0, system_prompt="Be brief.")
    pol = tiny_policy(cfg, chars=PRINTABLE)
    assert pol.format_prompt("hi") == "hi"  # no template: the raw prompt
    pol.tokenizer.chat_template = (
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    pol.has_chat_template = True
    assert pol.format_prompt("hi") == "<system>Be brief.<user>hi<assistant>"
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}]
    assert pol.format_prompt(messages) == "<system>S<user>q<assistant>"
    pol.cfg.use_chat_template = False  # honoured for messages too: their contents, one per line
    assert pol.format_prompt(messages) == "S\nq" and pol.format_prompt("hi") == "hi"


def test_lora_reference_is_the_base_model_without_a_copy():
    cfg = PolicyConfig(lora_r=4, lora_alpha=8, num_threads=1)
    model, tok = tiny_llama()
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    from rewardlab.llm.policy import Policy

    pol = Policy(model, tok, cfg)
    trainable = pol.trainable_parameters()
    assert trainable and all("lora_" in n for n, p in pol.model.named_parameters() if p.requires_grad)
    with torch.no_grad():  # move the adapter away from zero so policy != reference
        for p in trainable:
            p.add_(0.5)
    ids, mask = pol.encode_prompts(["12+3="])
    batch = Batch(ids, mask, torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long))
    ref = pol.logprobs(batch, reference=True)
    policy_lp = pol.logprobs(batch).detach()
    assert not torch.allclose(ref, policy_lp)
    fresh, _ = tiny_llama()
    fresh.load_state_dict(base_state)
    torch.testing.assert_close(ref, completion_logprobs(fresh.eval(), ids, mask, batch.completion_ids))
    assert pol._reference is None  # no second copy of the weights


def test_full_finetune_reference_is_a_frozen_copy():
    pol = tiny_policy(PolicyConfig(lora_r=0), chars=PRINTABLE)
    pol.freeze_reference()
    with torch.no_grad():
        pol.model.lm_head.weight.add_(1.0)
    assert not torch.equal(pol._reference.lm_head.weight, pol.model.lm_head.weight)
    assert not any(p.requires_grad for p in pol._reference.parameters())


def test_lora_bad_target_module_lists_the_linear_layers():
    with pytest.raises(ConfigError, match="not modules of this model.*q_proj"):
        tiny_policy(PolicyConfig(lora_r=4, lora_target_modules=["qkv"]), chars=PRINTABLE)


def test_load_errors_name_the_path(tmp_path):
    with pytest.raises(RewardlabError, match="'/no/such/model': no such file or directory"):
        load_model("/no/such/model")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(RewardlabError, match="not a .gguf file"):
        load_model(str(tmp_path / "notes.txt"))
    with pytest.raises(RewardlabError, match="has no config.json"):
        load_model(str(tmp_path))


def test_unsupported_gguf_architecture_is_named(tmp_path):
    gguf = pytest.importorskip("gguf", reason="the llm extra (gguf) is not installed")
    import numpy as np

    path = tmp_path / "weird.gguf"
    writer = gguf.GGUFWriter(str(path), "weirdnet")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(
        RewardlabError, match="architecture 'weirdnet', which transformers cannot load.*llama"
    ):
        load_model(str(path))


def test_directory_round_trip_and_tiny_name(tmp_path):
    model, tok = load_model("tiny-random-llama")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, tok2 = load_model(str(tmp_path))
    assert tok2.padding_side == "left"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_memory_estimate_refuses_with_the_estimate_and_the_knob():
    model, _ = tiny_llama()
    parts = estimate_memory_bytes(
        model, sequences_per_pass=8, sequence_length=100, completion_length=50, trainable_params=1000
    )
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")
    # logits: 8 sequences x 51 positions x vocab x 4 bytes x 3 copies
    assert parts["logits"] == 8 * 51 * model.config.vocab_size * 4 * 3
    check_memory(parts, parts["total"] + 1, "micro_batch_size")
    with pytest.raises(RewardlabError, match=r"needs about .* GiB .* Lower micro_batch_size"):
        check_memory(parts, parts["total"] // 2, "micro_batch_size")


def test_grpo_refuses_a_config_that_cannot_fit(copy_task, monkeypatch):
    from rewardlab.llm import policy as policy_mod
    from rewardlab.llm.grpo import GRPO, GRPOConfig

    monkeypatch.setattr(policy_mod, "available_memory_bytes", lambda device="cpu": 10_000)
    cfg = GRPOConfig(env="", lora_r=0, num_threads=1, max_prompt_length=8, max_completion_length=4)
    with pytest.raises(RewardlabError, match="Lower micro_batch_size"):
        GRPO(cfg, policy=tiny_policy(cfg), task=copy_task)


def _groups(seed=0, G=3):
    g = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, 90, (n,), generator=g).tolist() for n in (5, 2)]
    P = max(map(len, prompts))
    prompt_ids = torch.zeros(2, P, dtype=torch.long)
    prompt_mask = torch.zeros(2, P, dtype=torch.long)
    for i, p in enumerate(prompts):
        prompt_ids[i, P - len(p) :], prompt_mask[i, P - len(p) :] = torch.tensor(p), 1
    lengths = [4, 1, 6, 3, 6, 2]
    T = max(lengths)
    completion_ids = torch.randint(3, 90, (2 * G, T), generator=g)
    completion_mask = (torch.arange(T)[None] < torch.tensor(lengths)[:, None]).long()
    return prompt_ids, prompt_mask, completion_ids, completion_mask


def test_shared_prompt_logprobs_equal_the_plain_ones_with_gradients():
    from rewardlab.llm.sampling import shared_prompt_logprobs

    model, _ = tiny_llama()
    prompt_ids, prompt_mask, completion_ids, completion_mask = _groups()
    plain = completion_logprobs(
        model,
        prompt_ids.repeat_interleave(3, 0),
        prompt_mask.repeat_interleave(3, 0),
        completion_ids,
        completion_mask,
        temperature=0.8,
    )
    (plain * completion_mask).sum().backward()
    grads_plain = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    shared = shared_prompt_logprobs(
        model, prompt_ids, prompt_mask, completion_ids, completion_mask, group_size=3, temperature=0.8
    )
    (shared * completion_mask).sum().backward()
    m = completion_mask.bool()
    torch.testing.assert_close(shared[m], plain[m], atol=1e-5, rtol=1e-5)
    for a, p in zip(grads_plain, model.parameters()):
        torch.testing.assert_close(p.grad, a, atol=1e-5, rtol=1e-4)


def test_sampler_matches_transformers_generate_greedy():
    from rewardlab.llm.sampling import sample_completions

    model, tok = tiny_llama()
    model.eval()
    prompt_ids, prompt_mask, _, _ = _groups()
    ours, mask = sample_completions(
        model,
        prompt_ids,
        prompt_mask,
        num_generations=2,
        max_new_tokens=7,
        eos_token_id=1,
        pad_token_id=0,
        greedy=True,
    )
    ref = model.generate(
        input_ids=prompt_ids.repeat_interleave(2, 0),
        attention_mask=prompt_mask.repeat_interleave(2, 0),
        max_new_tokens=7,
        do_sample=False,
        eos_token_id=1,
        pad_token_id=0,
    )[:, prompt_ids.shape[1] :]
    assert torch.equal(ours, ref)
    assert torch.equal(mask, completion_mask_from_eos(ref, 1))


def test_sampler_draws_from_the_tempered_distribution():
    from rewardlab.llm.sampling import sample_completions

    model, _ = tiny_llama(chars="ab")  # 5 tokens: <pad> <eos> <bos> a b
    prompt_ids, prompt_mask = torch.tensor([[3, 4]]), torch.ones(1, 2, dtype=torch.long)
    torch.manual_seed(0)
    ids, _ = sample_completions(
        model,
        prompt_ids,
        prompt_mask,
        num_generations=4000,
        max_new_tokens=1,
        eos_token_id=None,
        pad_token_id=0,
        temperature=0.5,
    )
    with torch.no_grad():
        logits = model(input_ids=prompt_ids).logits[0, -1] / 0.5
    expected = torch.softmax(logits, -1)
    freq = torch.bincount(ids[:, 0], minlength=5).float() / 4000
    torch.testing.assert_close(freq, expected, atol=0.03, rtol=0)


def test_top_p_keeps_the_smallest_nucleus():
    from rewardlab.llm.sampling import top_p_filter

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(logits, 0.7))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 < 0.7 <= 0.5 + 0.3
    assert torch.isfinite(top_p_filter(logits, 0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(top_p_filter(logits, 1.0)).all()
