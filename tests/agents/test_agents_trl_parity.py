"""Loss-mask parity with the installed TRL's tool-call loop.

TRL's ``GRPOTrainer._tool_call_loop`` (with its ``_get_tool_suffix_ids``) is run as is on a stub
trainer whose "model" replays scripted turns; rewardlab's agent loop plays the same turns in a
ToolEnv with the same tool. On a ChatML tokenizer built in the test, both must give the same
completion ids (sampled turns + inserted tool-result deltas) and the same loss mask (TRL's
``tool_mask``: 1 on sampled tokens, 0 on inserted ones).
"""

import json
import types

import pytest

trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer", reason="TRL is not installed")

from rewardlab.agents.env import AgentTask, ToolEnv  # noqa: E402
from rewardlab.agents.rollout import AgentConfig, AgentLoop, scripted_policy  # noqa: E402
from rewardlab.agents.tools import tool  # noqa: E402
from rewardlab.llm.tiny import char_tokenizer  # noqa: E402
from rewardlab.tasks.base import Example  # noqa: E402

CHATML = (
    "{% for m in messages %}<bos>{{ m['role'] }}\n{{ m['content'] }}<eos>\n{% endfor %}"
    "{% if add_generation_prompt %}<bos>assistant\n{% endif %}"
)
TABLE = {"a": "7", "b": "3"}


def value_of(key: str) -> str:
    """The value stored under a key.

    Args:
        key: the key
    """
    return TABLE[key]


class TableEnv(ToolEnv):
    name = "table"
    action_format = "hermes"
    max_turns = 4

    @tool
    def value_of(self, key: str) -> str:
        """The value stored under a key.

        Args:
            key: the key
        """
        return value_of(key)

    def reset(self, *, seed, task=None):
        return [{"role": "user", "content": "Add the values of a and b."}], {}

    def problems(self, split, seed):
        return [Example(prompt=None, reference="10")]


def _call(key):
    call = {"name": "value_of", "arguments": {"key": key}}
    return f"<tool_call>{json.dumps(call)}</tool_call>"


TURNS = [_call("a"), _call("b"), "<answer>10</answer>"]


def _tool_calls(text):
    if "<tool_call>" not in text:
        return None
    body = json.loads(text.split("<tool_call>")[1].split("</tool_call>")[0])
    return [{"type": "function", "function": {"name": body["name"], "arguments": body["arguments"]}}]


def _trl_run(tok, prompt_ids, turns):
    """TRL's tool loop on one prompt, its model replaced by the scripted turns (ids + EOS)."""
    encode = lambda text: tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]  # noqa: E731
    queue = [encode(t) for t in turns[1:]]

    def generate_single_turn(ids, images, fields, num_generations, has_tool_images):
        out = [queue.pop(0) for _ in ids]
        return out, [[-0.5] * len(o) for o in out]

    stub = types.SimpleNamespace(
        processing_class=tok,
        _tokenizer=tok,
        chat_template=None,
        chat_template_kwargs={},
        _is_vlm=False,
        tools=[value_of],
        environment_factories=None,
        _sync_tool_dicts=[{"value_of": value_of}],
        _async_tool_dicts=[{}],
        max_tool_calling_iterations=8,
        max_completion_length=4096,
        use_vllm=False,
        model=types.SimpleNamespace(config=types.SimpleNamespace(max_position_embeddings=100_000)),
        _generate_single_turn=generate_single_turn,
    )
    stub._get_tool_suffix_ids = types.MethodType(trl_grpo.GRPOTrainer._get_tool_suffix_ids, stub)
    first = encode(turns[0])
    completions = [[{"role": "assistant", "content": turns[0], "tool_calls": _tool_calls(turns[0])}]]
    prompts = [[{"role": "user", "content": "Add the values of a and b."}]]

    def parse_response(tokenizer, ids, prefix=None, tools=None):  # TRL's parser needs a response schema
        text = tokenizer.decode(ids, skip_special_tokens=True)
        return {"role": "assistant", "content": text, "tool_calls": _tool_calls(text)}

    original = trl_grpo.parse_response
    trl_grpo.parse_response = parse_response
    try:
        tool_mask, completions, completion_ids, logprobs, calls, failures, _ = (
            trl_grpo.GRPOTrainer._tool_call_loop(
                stub, prompts, [list(prompt_ids)], [first], completions, [[-0.5] * len(first)], None, None
            )
        )
    finally:
        trl_grpo.parse_response = original
    assert not queue and calls == len(turns) - 1 and failures == 0
    return completion_ids[0], tool_mask[0], logprobs[0]


@pytest.mark.parametrize("turns", [TURNS, TURNS[1:]], ids=["two-tool-turns", "one-tool-turn"])
def test_rewardlab_and_trl_tool_loop_give_the_same_completion_ids_and_masks(turns):
    tok = char_tokenizer()
    tok.chat_template = CHATML
    task = AgentTask(TableEnv)
    loop = AgentLoop(scripted_policy(tok), task, task.reward(), AgentConfig(), max_completion_length=4096)
    queue = list(turns)
    (ep,) = loop.run(
        task.examples("train"),
        num_generations=1,
        seeds=[0],
        actor=lambda eps, envs: [queue.pop(0) for _ in eps],
    )
    assert not queue and ep.terminated and ep.counts["calls"] == len(turns) - 1
    ids, mask, logprobs = _trl_run(tok, ep.trajectory.prompt_ids, turns)
    assert ep.trajectory.ids == ids
    assert ep.trajectory.loss_mask == mask
    assert [lp != 0.0 for lp in logprobs] == [bool(m) for m in mask]  # TRL pads old log-probs with 0 too
    # the inserted span is ChatML's end-of-turn newline, the tool message and the next assistant header
    first = len(tok(turns[0], add_special_tokens=False)["input_ids"]) + 1
    inserted = tok.decode(ids[first : mask.index(1, first)])
    value = TABLE["a"] if turns is TURNS else TABLE["b"]
    assert inserted == f"\n<bos>tool\n{value}<eos>\n<bos>assistant\n"
