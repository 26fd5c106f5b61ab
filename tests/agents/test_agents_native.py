"""The ``native`` action format: the tool-call syntax read off the tokenizer's own chat template.

Two tools-capable templates are built in the test on the tiny character tokenizer: a Qwen / Hermes
style one (``<tool_call>{"name", "arguments"}</tool_call>``, tools listed in a system block, tool
results as ``<tool_response>``) and a Llama 3.1 style one (bare ``{"name", "parameters"}``).
SmolLM2-style ChatML, which renders only ``content``, is refused with the formats to use instead.
"""

import pytest

from rewardlab.agents.native import NativeToolFormat
from rewardlab.agents.rollout import AgentConfig, AgentLoop, scripted_policy
from rewardlab.errors import ConfigError
from rewardlab.llm.tiny import char_tokenizer

QWEN_LIKE = (
    "{% if tools %}<bos>system\n# Tools\n{% for t in tools %}\n{{ t | tojson }}{% endfor %}\n"
    'Call with <tool_call>{"name": ..., "arguments": ...}</tool_call><eos>\n{% endif %}'
    "{% for m in messages %}"
    "{% if m.role == 'assistant' and m.tool_calls %}<bos>assistant\n{{ m.content }}"
    "{% for c in m.tool_calls %}<tool_call>\n"
    '{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}\n</tool_call>'
    "{% endfor %}<eos>\n"
    "{% elif m.role == 'tool' %}<bos>user\n<tool_response>\n{{ m.content }}\n</tool_response><eos>\n"
    "{% else %}<bos>{{ m.role }}\n{{ m.content }}<eos>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<bos>assistant\n{% endif %}"
)
LLAMA_LIKE = (
    "{% for m in messages %}"
    "{% if m.role == 'assistant' and m.tool_calls %}<bos>assistant\n"
    '{% for c in m.tool_calls %}{"name": "{{ c.function.name }}", '
    '"parameters": {{ c.function.arguments | tojson }}}{% endfor %}<eos>\n'
    "{% elif m.role == 'tool' %}<bos>ipython\n{{ m.content }}<eos>\n"
    "{% else %}<bos>{{ m.role }}\n{{ m.content }}<eos>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<bos>assistant\n{% endif %}"
)
CHATML = (
    "{% for m in messages %}<bos>{{ m['role'] }}\n{{ m['content'] }}<eos>\n{% endfor %}"
    "{% if add_generation_prompt %}<bos>assistant\n{% endif %}"
)


def _tok(template):
    tok = char_tokenizer()
    tok.chat_template = template
    return tok


def test_the_call_syntax_is_read_off_the_template():
    qwen = NativeToolFormat.from_tokenizer(_tok(QWEN_LIKE))
    assert (qwen.open_tag, qwen.close_tag, qwen.arguments_key) == ("<tool_call>", "</tool_call>", "arguments")
    llama = NativeToolFormat.from_tokenizer(_tok(LLAMA_LIKE))
    assert (llama.open_tag, llama.close_tag, llama.arguments_key) == ("", "", "parameters")


def test_a_template_that_does_not_render_tool_calls_is_refused_naming_the_text_formats():
    with pytest.raises(ConfigError, match="does not render tool calls.*'hermes', 'call' or 'json'"):
        NativeToolFormat.from_tokenizer(_tok(CHATML))
    with pytest.raises(ConfigError, match="no chat template"):
        NativeToolFormat.from_tokenizer(char_tokenizer())


def test_native_parsing_never_raises():
    qwen = NativeToolFormat.from_tokenizer(_tok(QWEN_LIKE))
    a = qwen.parse('<tool_call>\n{"name": "lookup", "arguments": {"key": "3"}}\n</tool_call>')
    assert [(c.name, c.arguments) for c in a.calls] == [("lookup", {"key": "3"})] and not a.malformed
    assert qwen.parse('<tool_call>{"name": "lookup", "argum').error.startswith(
        "the tool call is not valid JSON"
    )
    assert "not closed with </tool_call>" in qwen.parse('<tool_call>{"name": "f", "arguments": {}}').error
    assert qwen.parse("The value is 7.").answer == "The value is 7."
    llama = NativeToolFormat.from_tokenizer(_tok(LLAMA_LIKE))
    b = llama.parse('{"name": "lookup", "parameters": {"key": "3"}}')
    assert [(c.name, c.arguments) for c in b.calls] == [("lookup", {"key": "3"})]
    assert llama.parse("7").answer == "7"


@pytest.mark.parametrize("template", [QWEN_LIKE, LLAMA_LIKE], ids=["qwen-like", "llama-like"])
def test_an_episode_in_the_native_format_is_token_exact(template):
    from rewardlab import agents

    tok = _tok(template)
    task = agents.make("lookup", protocol="call", num_train=4, num_test=4)
    loop = AgentLoop(
        scripted_policy(tok),
        task,
        task.reward(),
        AgentConfig(action_format="native"),
        max_completion_length=4000,
    )
    native = loop.native
    key = task.examples("test")[0].info["key"]

    def actor(episodes, envs):
        out = []
        for ep, env in zip(episodes, envs):
            if ep.messages[-1]["role"] == "tool":
                out.append(ep.messages[-1]["content"])  # the value, as plain text: the final answer
            else:
                call = {"name": "lookup", native.arguments_key: {"key": env.key}}
                body = __import__("json").dumps(call)
                out.append(f"{native.open_tag}\n{body}\n{native.close_tag}" if native.open_tag else body)
        return out

    (ep,) = loop.run(task.examples("test")[:1], num_generations=1, seeds=[0], actor=actor)
    assert ep.counts["calls"] == 1 and ep.counts["malformed"] == 0 and ep.terminated
    assert loop.reward([ep.sample()])[0] == 1.0 and ep.info["success"]
    assert ep.drift_tokens == 0  # prompt (with the template's tool list), turns and deltas re-render exactly
    prompt = tok.decode(ep.trajectory.prompt_ids)
    assert key in prompt
    assert ('"name": "lookup"' in prompt) == (template is QWEN_LIKE)  # a template with a tools block lists it
    observation = tok.decode([i for i, m in zip(ep.trajectory.ids, ep.trajectory.loss_mask) if not m])
    assert ("<tool_response>" in observation) == (template is QWEN_LIKE)
