"""Robustness: thousands of scripted hostile actions, zero crashes, counts equal to what was injected."""

import random
import string
import time

import pytest

from rewardlab.agents.env import AgentTask, ToolEnv
from rewardlab.agents.rollout import AgentConfig, AgentLoop, scripted_policy
from rewardlab.agents.tools import ToolCrash, ToolError, tool
from rewardlab.tasks.base import Example

MAX_TURNS = 8
MAX_ERRORS = 3
OUTPUT_TOKENS = 200


class FuzzEnv(ToolEnv):
    name = "fuzz"
    max_turns = MAX_TURNS

    def reset(self, *, seed, task=None):
        return [{"role": "user", "content": f"problem {seed}"}], {}

    def problems(self, split, seed):
        return [Example(prompt=None, reference="0", info={"i": i}) for i in range(4)]

    @tool
    def echo(self, text: str) -> str:
        """Echo.

        Args:
            text: what to echo
        """
        return text

    @tool
    def big(self, n: int) -> str:
        """A long output.

        Args:
            n: characters
        """
        return "x" * n

    @tool
    def fail(self, why: str) -> str:
        """Refuse.

        Args:
            why: the message
        """
        raise ToolError(why)

    @tool(timeout_s=0.02)
    def slow(self, seconds: float) -> str:
        """Sleep.

        Args:
            seconds: how long
        """
        time.sleep(seconds)
        return "late"

    @tool
    def crash(self) -> str:
        """A bug."""
        raise RuntimeError("boom")


def call(name, args):
    import json

    return f"<tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>"


# kind -> (text maker, is a tool call, counts as an error, overflows)
KINDS = {
    "ok": (lambda r: call("echo", {"text": "hi"}), True, False, False),
    "big": (lambda r: call("big", {"n": 10_000}), True, False, True),
    "unknown": (lambda r: call("nosuch" + str(r.randrange(9)), {}), True, True, False),
    "missing_arg": (lambda r: call("echo", {}), True, True, False),
    "wrong_type": (lambda r: call("big", {"n": "many"}), True, True, False),
    "extra_arg": (lambda r: call("echo", {"text": "a", "zz": 1}), True, True, False),
    "tool_error": (lambda r: call("fail", {"why": "no"}), True, True, False),
    "truncated_json": (
        lambda r: call("echo", {"text": "abc"})[: r.randrange(12, 30)] + "</tool_call>",
        False,
        None,
        False,
    ),
    "unclosed": (lambda r: '<tool_call>{"name": "echo", "arguments": {"text": "a"}}', False, None, False),
    "not_object": (lambda r: "<tool_call>[1, 2, 3]</tool_call>", False, None, False),
}


def random_text(r):
    """Printable noise without '<' or '{' (so it is a plain final answer, never a call)."""
    alphabet = string.ascii_letters + string.digits + " .,;:!?-_\n"
    return "".join(r.choice(alphabet) for _ in range(r.randrange(0, 40)))


def fuzz(actions: int, seed: int = 0) -> None:
    r = random.Random(seed)
    injected = {"calls": 0, "errors": 0, "malformed": 0, "overflow": 0, "timeouts": 0, "actions": 0}
    plan: dict[int, list[str]] = {}

    def actor(episodes, envs):
        texts = []
        for ep in episodes:
            u = r.random()
            if u < 0.04:
                kind = "final"
            elif u < 0.045 and injected["timeouts"] < 15:
                kind = "timeout"
            else:
                kind = r.choice(list(KINDS))
            plan.setdefault(id(ep), []).append(kind)
            injected["actions"] += 1
            if kind == "final":
                texts.append(random_text(r))
            elif kind == "timeout":
                injected.update(calls=injected["calls"] + 1, errors=injected["errors"] + 1)
                injected["timeouts"] += 1
                texts.append(call("slow", {"seconds": 0.3}))
            else:
                make, is_call, is_error, overflow = KINDS[kind]
                texts.append(make(r))
                if is_call:
                    injected["calls"] += 1
                    injected["errors"] += int(is_error)
                    injected["overflow"] += int(overflow)
                else:
                    injected["malformed"] += 1
        return texts

    task = AgentTask(FuzzEnv)
    loop = AgentLoop(
        scripted_policy(),
        task,
        task.reward(),
        AgentConfig(
            max_consecutive_errors=MAX_ERRORS,
            max_tool_output_tokens=OUTPUT_TOKENS,
            max_episode_tokens=100_000,
        ),
        max_completion_length=100_000,
    )
    episodes = []
    while injected["actions"] < actions:
        examples = task.examples("train")
        episodes += loop.run(examples * 100, num_generations=1, seeds=list(range(400)), actor=actor)
    totals = {k: sum(ep.counts[k] for ep in episodes) for k in ("calls", "errors", "malformed", "overflow")}
    assert totals == {k: injected[k] for k in totals}
    assert sum(len(ep.turns) for ep in episodes) == injected["actions"] >= actions
    for ep in episodes:  # each episode ended for exactly the reason its script implies
        kinds, consecutive, expect = plan[id(ep)], 0, None
        for turn, kind in enumerate(kinds):
            if kind == "final":
                expect = "terminated"
                break
            failed = kind == "timeout" or KINDS[kind][2] is not False
            consecutive = consecutive + 1 if failed else 0
            if consecutive >= MAX_ERRORS:
                expect = "consecutive_errors"
                break
            if turn + 1 >= MAX_TURNS:
                expect = "max_turns"
                break
        assert len(kinds) == turn + 1
        assert (ep.truncation or "terminated") == expect, (kinds, ep.truncation)
        assert ep.drift_tokens == 0
        tr = ep.trajectory
        assert [i for i, m in zip(tr.ids, tr.loss_mask) if m] == [i for t in ep.turns for i in t.sampled_ids]
    # every 10k-character output was cut to the budget, and the cut was said
    big = [
        m for ep in episodes for m in ep.messages if m["role"] == "tool" and m["content"].startswith("xxx")
    ]
    assert big and all(m["content"].endswith("...[truncated]") and len(m["content"]) < 250 for m in big)


def test_three_thousand_hostile_actions():
    fuzz(3000)


@pytest.mark.long
def test_ten_thousand_hostile_actions():
    """The issue's 10,000-action fuzz (about 60 s under load; `pytest -m long`)."""
    fuzz(10_000, seed=1)


def test_a_tool_that_raises_a_real_exception_is_an_error_naming_env_and_tool():
    task = AgentTask(FuzzEnv)
    loop = AgentLoop(scripted_policy(), task, task.reward(), AgentConfig(), max_completion_length=500)
    with pytest.raises(ToolCrash, match="environment 'fuzz': tool 'crash' raised RuntimeError: boom"):
        loop.run(
            task.examples("train")[:1], num_generations=1, seeds=[0], actor=lambda e, v: [call("crash", {})]
        )
