"""Action formats: the text of one assistant turn -> an :class:`Action`, never raising.

Small models cannot use a chat template's native tool calls (SmolLM2's template renders only
``content``), so tool calls are written as text in one of three formats:

* ``hermes`` -- ``<tool_call>{"name": "calculator", "arguments": {"expression": "2*3"}}</tool_call>``
  and a final ``<answer>...</answer>`` (Qwen2.5 / Qwen3's native format, so one env serves both);
* ``call`` -- Python call syntax, one call per line: ``click(4)``, ``type(7, "x")``,
  ``answer("42")``. Parsed with :mod:`ast` and :func:`ast.literal_eval` on each argument, never
  ``eval``: only literals are accepted, so a model cannot run code;
* ``json`` -- one JSON object: ``{"name": ..., "arguments": {...}}`` (a call), ``{"answer": ...}``,
  or any other object, kept in ``Action.data`` for envs with their own grammar (GTR's 24-points
  ``{cards, formula, thoughts, action}``).

A turn that tries to call a tool and fails to (bad JSON, an unclosed tag, a call that does not
parse) gets ``Action.error``: the environment answers with feedback and counts it; the episode
goes on (verl #3070 ended it silently). A turn with neither a call nor an error is a final answer.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardlab.errors import ConfigError, unknown_name

FORMATS = ("hermes", "call", "json", "native")  # native: the tokenizer's own syntax (agents.native)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_CALL_START = re.compile(r"^\s*([A-Za-z_]\w*)\s*\(")


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    raw: str = ""


@dataclass
class Action:
    """What the parser made of one assistant turn (``text`` is always the decoded turn)."""

    text: str
    calls: list[ToolCall] = field(default_factory=list)
    answer: str | None = None  # content of the final-answer marker, when present
    error: str | None = None  # why a tool call could not be parsed (the turn is malformed)
    data: Any = None  # a JSON object that is neither a call nor an answer (json format)

    @property
    def malformed(self) -> bool:
        return self.error is not None


def _last_answer(text: str) -> str | None:
    found = _ANSWER.findall(text)
    return found[-1].strip() if found else None


def _call_from_object(obj: Any, raw: str) -> ToolCall | str:
    """A ToolCall from ``{"name": ..., "arguments": {...}}``, or the reason it is not one."""
    if not isinstance(obj, dict):
        return f"a tool call must be a JSON object, got {type(obj).__name__}"
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        return 'a tool call needs a "name" string'
    args = obj.get("arguments", obj.get("parameters", {}))  # missing arguments = {} (as TRL)
    if isinstance(args, str):  # OpenAI style: arguments as a JSON string
        try:
            args = json.loads(args)
        except ValueError:
            return f"the arguments of {name!r} are a string that is not JSON"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return f'"arguments" of {name!r} must be a JSON object'
    return ToolCall(name, args, raw)


def parse_hermes(text: str, tools: Mapping[str, Any] | None = None) -> Action:
    action = Action(text=text, answer=_last_answer(text))
    bodies = _TOOL_CALL.findall(text)
    opened = text.count("<tool_call>")
    if opened > len(bodies):
        action.error = "a <tool_call> tag is not closed with </tool_call>"
        return action
    for body in bodies:
        try:
            obj = json.loads(body.strip())
        except ValueError as e:
            action.error = f"the tool call is not valid JSON ({e.msg} at character {e.pos})"
            return action
        call = _call_from_object(obj, body)
        if isinstance(call, str):
            action.error = call
            return action
        action.calls.append(call)
    return action


def _literal(node: ast.AST) -> Any:
    return ast.literal_eval(node)


def _parse_call_line(line: str, tools: Mapping[str, Any] | None) -> ToolCall | str:
    try:
        tree = ast.parse(line.strip(), mode="eval")
    except (SyntaxError, ValueError) as e:
        return f"{line.strip()[:60]!r} is not a call ({type(e).__name__})"
    node = tree.body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        return f"{line.strip()[:60]!r} is not a call like name(arg, ...)"
    name = node.func.id
    try:
        positional = [_literal(a) for a in node.args]
        keywords = {k.arg: _literal(k.value) for k in node.keywords if k.arg is not None}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return f"the arguments of {name}(...) must be literals (numbers, strings, lists)"
    if any(k.arg is None for k in node.keywords):
        return f"{name}(**...) is not allowed"
    if name == "answer":
        return ToolCall("answer", {"value": positional[0] if positional else keywords.get("value", "")}, line)
    params: list[str] = []
    spec = tools.get(name) if tools else None
    if spec is not None:
        params = list(spec.schema["function"]["parameters"].get("properties", {}))
    if len(positional) > len(params):
        if spec is None:  # unknown tool: keep the arguments so the error can show them
            keywords.update({f"arg{i}": v for i, v in enumerate(positional)})
            return ToolCall(name, keywords, line)
        return f"{name}() takes {len(params)} arguments, got {len(positional)}"
    for p, v in zip(params, positional):
        if p in keywords:
            return f"{name}() got two values for {p!r}"
        keywords[p] = v
    return ToolCall(name, keywords, line)


def parse_call(text: str, tools: Mapping[str, Any] | None = None) -> Action:
    action = Action(text=text, answer=_last_answer(text))
    body = text.replace("<answer>", "").replace("</answer>", "") if action.answer is None else text
    for line in body.splitlines():
        if not _CALL_START.match(line):
            continue
        call = _parse_call_line(line, tools)
        if isinstance(call, str):
            action.error = call
            action.calls = []
            return action
        if call.name == "answer":
            action.answer = str(call.arguments["value"])
            continue
        action.calls.append(call)
    return action


def _json_object(text: str) -> tuple[Any, str | None]:
    """The first JSON object of ``text`` (fenced or bare): (object, None), (None, why) or (None, None)."""
    start = text.find("{")
    if start < 0:
        return None, None
    decoder = json.JSONDecoder()
    try:
        obj, _ = decoder.raw_decode(text[start:])
    except ValueError as e:
        return None, f"the JSON object is not valid ({getattr(e, 'msg', e)})"
    return obj, None


def parse_json(text: str, tools: Mapping[str, Any] | None = None) -> Action:
    action = Action(text=text, answer=_last_answer(text))
    obj, why = _json_object(text)
    if why is not None:
        action.error = why
        return action
    if obj is None:
        return action
    if isinstance(obj, dict) and "name" in obj:
        call = _call_from_object(obj, json.dumps(obj))
        if isinstance(call, str):
            action.error = call
        else:
            action.calls.append(call)
    elif isinstance(obj, dict) and "answer" in obj and len(obj) == 1:
        action.answer = str(obj["answer"])
    else:
        action.data = obj
    return action


PARSERS = {"hermes": parse_hermes, "call": parse_call, "json": parse_json}


def parse_action(text: str, action_format: str, tools: Mapping[str, Any] | None = None) -> Action:
    """Parse one turn; never raises on any ``text`` (an unknown format is a config error)."""
    if action_format == "native":
        raise ConfigError(
            "action_format 'native' depends on the tokenizer: parse with "
            "rewardlab.agents.native.NativeToolFormat.from_tokenizer(tokenizer).parse(text, tools)"
        )
    if action_format not in PARSERS:
        raise unknown_name("action format", action_format, PARSERS)
    try:
        return PARSERS[action_format](text, tools)
    except RecursionError:  # a pathological nesting depth in the model's JSON
        return Action(text=text, error="the tool call is nested too deeply to parse")


def format_instructions(action_format: str, tools: list[Any]) -> str:
    """The paragraph that tells the model which tools exist and how to call them."""
    if action_format not in PARSERS and action_format != "native":
        raise unknown_name("action format", action_format, PARSERS)
    lines = []
    if tools:
        lines.append("You can call these tools:")
        for t in tools:
            lines.append(f"- {t.signature_text()}: {t.schema['function'].get('description', '')}")
    if action_format == "hermes":
        if tools:
            lines.append(
                'To call a tool write <tool_call>{"name": "TOOL", "arguments": {...}}</tool_call> and stop.'
            )
        lines.append("Give the final answer as <answer>...</answer>.")
    elif action_format == "native":  # the chat template shows the syntax (rendered with tools=)
        if tools:
            lines.append("Call a tool the way your instructions show, and stop.")
        lines.append("Then give the final answer as plain text.")
    elif action_format == "call":
        if tools:
            lines.append('To call a tool write one call per line, e.g. tool(1, "text"), and stop.')
        lines.append('Give the final answer as answer("...").')
    else:
        if tools:
            lines.append('To call a tool write {"name": "TOOL", "arguments": {...}} and stop.')
        lines.append('Give the final answer as {"answer": "..."}.')
    return "\n".join(lines)


__all__ = [
    "FORMATS",
    "Action",
    "ToolCall",
    "format_instructions",
    "parse_action",
    "parse_call",
    "parse_hermes",
    "parse_json",
]
