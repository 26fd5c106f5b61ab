"""The agent contract's parts: tool schemas and dispatch, action parsers, token deltas, credit."""

import math

import pytest
import torch

from rewardlab.agents.actions import parse_action
from rewardlab.agents.credit import per_token, return_to_go_advantages, returns_to_go
from rewardlab.agents.env import ToolEnv
from rewardlab.agents.rollout import AgentConfig, AgentLoop, oracle_actor, scripted_policy
from rewardlab.agents.tools import Tool, ToolCrash, ToolError, dispatch, tool
from rewardlab.agents.trajectory import Renderer, Trajectory
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.llm.grpo import group_advantages
from rewardlab.llm.tiny import char_tokenizer

CHATML = (
    "{% for m in messages %}<bos>{{ m['role'] }}\n{{ m['content'] }}<eos>\n{% endfor %}"
    "{% if add_generation_prompt %}<bos>assistant\n{% endif %}"
)


def chatml_tokenizer():
    """The tiny character tokenizer with a ChatML-shaped template (<bos> = im_start, <eos> = im_end)."""
    tok = char_tokenizer()
    tok.chat_template = CHATML
    return tok


def ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


# ---- tools ------------------------------------------------------------------------------------


def add(a: int, b: int = 1) -> int:
    """Add two integers.

    Args:
        a: first
        b: second
    """
    return a + b


def test_tool_schema_comes_from_type_hints_and_docstring():
    t = Tool.from_function(add)
    fn = t.schema["function"]
    assert fn["name"] == "add" and fn["description"] == "Add two integers."
    assert fn["parameters"]["properties"] == {
        "a": {"type": "integer", "description": "first"},
        "b": {"type": "integer", "description": "second"},
    }
    assert fn["parameters"]["required"] == ["a"]


def test_a_tool_without_docstring_is_an_error_naming_it():
    def nodoc(x: int) -> int:
        return x

    with pytest.raises(RewardlabError, match="tool 'nodoc'.*docstring"):
        Tool.from_function(nodoc)


def test_dispatch_turns_every_model_mistake_into_a_counted_outcome():
    def divide(a: float, b: float) -> float:
        """Divide.

        Args:
            a: numerator
            b: denominator
        """
        if b == 0:
            raise ToolError("division by zero")
        return a / b

    def buggy(x: int) -> int:
        """Broken.

        Args:
            x: anything
        """
        return x // 0

    tools = {
        t.name: t for t in (Tool.from_function(add), Tool.from_function(divide), Tool.from_function(buggy))
    }
    assert dispatch(tools, "add", {"a": 2, "b": 3}).content == "5"
    assert dispatch(tools, "nope", {}).outcome == "unknown"
    assert "Available tools: add, buggy, divide" in dispatch(tools, "nope", {}).content
    assert dispatch(tools, "add", {"b": 3}).outcome == "bad_args"  # missing a
    assert dispatch(tools, "add", {"a": "2"}).outcome == "bad_args"  # a str is not an int
    assert dispatch(tools, "add", {"a": True}).outcome == "bad_args"  # nor is a bool
    assert dispatch(tools, "add", {"a": 1, "c": 2}).outcome == "bad_args"
    assert dispatch(tools, "add", [1, 2]).outcome == "bad_args"
    assert dispatch(tools, "divide", {"a": 1, "b": 2}).content == "0.5"  # float accepts int
    assert dispatch(tools, "divide", {"a": 1, "b": 0}).content == "Error: division by zero"
    with pytest.raises(ToolCrash, match="environment 'calc'.*tool 'buggy' raised ZeroDivisionError"):
        dispatch(tools, "buggy", {"x": 1}, env_name="calc")


def test_a_slow_tool_times_out_into_feedback():
    import time

    @tool(timeout_s=0.05)
    def slow(seconds: float) -> str:
        """Sleep.

        Args:
            seconds: how long
        """
        time.sleep(seconds)
        return "done"

    t = Tool.from_function(slow, timeout_s=0.05)
    out = dispatch({"slow": t}, "slow", {"seconds": 0.5})
    assert out.outcome == "timeout" and "timed out after 0.05 s" in out.content
    assert dispatch({"slow": t}, "slow", {"seconds": 0.0}).content == "done"


# ---- action formats ---------------------------------------------------------------------------


def test_hermes_parser():
    a = parse_action('<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>', "hermes")
    assert [(c.name, c.arguments) for c in a.calls] == [("add", {"a": 1})] and not a.malformed
    two = parse_action(
        '<tool_call>{"name": "x"}</tool_call> and <tool_call>{"name": "y", "arguments": "{\\"k\\": 2}"}</tool_call>',
        "hermes",
    )
    assert [(c.name, c.arguments) for c in two.calls] == [("x", {}), ("y", {"k": 2})]
    assert parse_action("the answer is <answer> 42 </answer>", "hermes").answer == "42"
    assert "not valid JSON" in parse_action('<tool_call>{"name": "add", "argu</tool_call>', "hermes").error
    assert "not closed" in parse_action('<tool_call>{"name": "add"}', "hermes").error
    assert '"name"' in parse_action('<tool_call>{"arguments": {}}</tool_call>', "hermes").error
    assert (
        "JSON object"
        in parse_action('<tool_call>{"name": "a", "arguments": [1]}</tool_call>', "hermes").error
    )
    plain = parse_action("just text", "hermes")
    assert not plain.calls and not plain.malformed and plain.answer is None


def test_call_parser_uses_ast_literals_never_eval():
    tools = {t.name: t for t in (Tool.from_function(add),)}
    a = parse_action("add(4)\nadd(7, b=2)", "call", tools)
    assert [(c.name, c.arguments) for c in a.calls] == [("add", {"a": 4}), ("add", {"a": 7, "b": 2})]
    assert parse_action('answer("42")', "call").answer == "42"
    assert parse_action("type(7, 'x')", "call").calls[0].arguments == {"arg0": 7, "arg1": "x"}  # unknown tool
    assert "literals" in parse_action("add(__import__('os').getcwd())", "call", tools).error
    assert parse_action("add(1, 2, 3)", "call", tools).error == "add() takes 2 arguments, got 3"
    assert parse_action("add(1", "call", tools).malformed
    assert not parse_action("I think so.", "call", tools).malformed


def test_json_parser():
    a = parse_action('ok {"name": "add", "arguments": {"a": 1}} done', "json")
    assert a.calls[0].arguments == {"a": 1}
    assert parse_action('{"answer": 7}', "json").answer == "7"
    assert parse_action('{"cards": [1, 2], "action": "3"}', "json").data == {"cards": [1, 2], "action": "3"}
    assert parse_action('{"name": "add", "arguments": {', "json").malformed
    with pytest.raises(RewardlabError, match="unknown action format 'xml'"):
        parse_action("x", "xml")


# ---- token deltas and trajectories ------------------------------------------------------------


def test_renderer_deltas_on_a_chatml_template():
    tok = chatml_tokenizer()
    r = Renderer(tok)
    assert r.boundary(ended_with_eos=True) == ids(tok, "\n")  # the sampled <eos> is kept, "\n" inserted
    assert r.boundary(ended_with_eos=False) == ids(tok, "<eos>\n")  # cut by length: the end is inserted
    assert r.observation([{"role": "tool", "content": "v7"}]) == ids(
        tok, "<bos>tool\nv7<eos>\n<bos>assistant\n"
    )


def test_a_template_that_is_not_append_only_is_refused():
    tok = char_tokenizer()
    tok.chat_template = (
        "{% for m in messages %}{% if not loop.last %}{{ m['content'] }}{% endif %}{% endfor %}x"
    )
    with pytest.raises(ConfigError, match="not append-only"):
        Renderer(tok)


def test_trajectory_invariants_are_checked_on_every_append():
    tr = Trajectory([5])
    tr.append_sampled([1, 2], [-0.1, -0.2], 0)
    tr.append_context([3], 0)
    assert (tr.ids, tr.loss_mask, tr.turn_index) == ([1, 2, 3], [1, 1, 0], [0, 0, 0])
    with pytest.raises(RewardlabError, match="2 sampled ids but 1 log-probs"):
        tr.append_sampled([4, 5], [-0.3], 1)
    tr.loss_mask[2] = 1  # a bookkeeping bug (TRL #5144-like) is caught at the next append
    with pytest.raises(RewardlabError, match="mask-1 tokens are not the sampled turns"):
        tr.append_context([6], 1)


@pytest.mark.parametrize("template", [True, False])
def test_episode_stream_is_sampled_ids_plus_masked_deltas_with_zero_drift(template):
    from rewardlab import agents

    tok = chatml_tokenizer() if template else char_tokenizer()
    task = agents.make("lookup", protocol="call", num_train=4, num_test=4)
    loop = AgentLoop(scripted_policy(tok), task, task.reward(), AgentConfig(), max_completion_length=400)
    (ep,) = loop.run(task.examples("test")[:1], num_generations=1, seeds=[0], actor=oracle_actor)
    tr = ep.trajectory
    sampled = [t.sampled_ids for t in ep.turns]
    assert sampled[0] == ids(tok, f'lookup("{task.examples("test")[0].info["key"]}")') + [tok.eos_token_id]
    # mask-1 tokens are exactly the sampled turns, in order
    assert [i for i, m in zip(tr.ids, tr.loss_mask) if m] == sampled[0] + sampled[1]
    n0 = len(sampled[0])
    context = tr.ids[n0 : len(tr.ids) - len(sampled[1])]
    expected = loop.renderer.boundary(True) + loop.renderer.observation([ep.messages[ep.initial + 1]])
    assert context == expected and set(tr.loss_mask[n0 : n0 + len(context)]) == {0}
    assert ep.drift_tokens == 0 and ep.terminated and loop.reward([ep.sample()])[0] == 1.0


def test_a_turn_cut_by_length_gets_the_end_token_inserted_with_mask_0():
    from rewardlab import agents

    tok = chatml_tokenizer()
    task = agents.make("lookup", protocol="call", num_train=4, num_test=4)
    loop = AgentLoop(
        scripted_policy(tok), task, task.reward(), AgentConfig(max_turn_tokens=8), max_completion_length=400
    )
    (ep,) = loop.run(task.examples("test")[:1], num_generations=1, seeds=[0], actor=oracle_actor)
    first = ep.turns[0]
    assert first.stop == "length" and len(first.sampled_ids) == 8
    assert ep.trajectory.ids[8:10] == ids(tok, "<eos>\n") and ep.trajectory.loss_mask[8:10] == [0, 0]
    assert first.action.malformed  # the call cut after 'lookup("': feedback, not a silent end
    assert ep.counts["malformed"] >= 1 and ep.drift_tokens == 0


# ---- credit -----------------------------------------------------------------------------------


def test_returns_to_go_by_hand():
    # r = (1, 0, 2), R = 5 so the terminal part is 5 - 3 = 2; gamma 0.5:
    # G_2 = 2 + 2 = 4, G_1 = 0 + 0.5 * 4 = 2, G_0 = 1 + 0.5 * 2 = 2
    assert returns_to_go([1.0, 0.0, 2.0], 5.0, 0.5) == [2.0, 2.0, 4.0]
    assert returns_to_go([], 1.0) == []


def test_return_to_go_advantages_by_hand_and_the_one_turn_case():
    # group of 2: episode a has turns r = (0, 1), R = 1 -> G = (1, 1); episode b: r = (0,), R = 0 -> G = (0,)
    # values 1, 1, 0: mean 2/3, Bessel std sqrt(((1/3)^2 * 2 + (2/3)^2) / 2) = sqrt(1/3)
    adv = return_to_go_advantages([[0.0, 1.0], [0.0]], [1.0, 0.0], num_generations=2)
    std = math.sqrt(1 / 3)
    assert adv[0] == pytest.approx([(1 / 3) / (std + 1e-4)] * 2, rel=1e-6)
    assert adv[1] == pytest.approx([(-2 / 3) / (std + 1e-4)], rel=1e-6)
    rewards = torch.tensor([1.0, 0.0, 0.5, 0.5, 2.0, 1.0])
    one_turn = return_to_go_advantages([[0.0]] * 6, rewards.tolist(), num_generations=3)
    assert torch.allclose(torch.tensor([a[0] for a in one_turn]), group_advantages(rewards, 3))
    tokens = per_token(adv, torch.tensor([[0, 0, 1, 1], [0, 0, -1, -1]]))
    assert tokens[0].tolist() == pytest.approx([adv[0][0], adv[0][0], adv[0][1], adv[0][1]])
    assert tokens[1, 2:].tolist() == [0.0, 0.0]


def test_agent_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="no key 'max_turn'.*Did you mean: max_turns"):
        AgentConfig.from_dict({"max_turn": 3})
    with pytest.raises(ConfigError, match="advantage 'gae' is not one of episode, return_to_go"):
        AgentConfig.from_dict({"advantage": "gae"})


class _Env(ToolEnv):
    name = "impure"

    def reset(self, *, seed, task=None):
        import random

        return [{"role": "user", "content": str(random.random())}], {}

    def problems(self, split, seed):
        from rewardlab.tasks.base import Example

        return [Example(prompt=None, reference="1")]


def test_reset_that_is_not_a_function_of_seed_and_task_is_an_error():
    from rewardlab.agents.env import AgentTask

    task = AgentTask(_Env)
    loop = AgentLoop(scripted_policy(), task, task.reward(), AgentConfig(), max_completion_length=50)
    with pytest.raises(RewardlabError, match="'impure'.*pure function of \\(seed, task\\)"):
        loop.run(
            task.examples("train"), num_generations=2, seeds=[0], actor=lambda eps, envs: ["x"] * len(eps)
        )
