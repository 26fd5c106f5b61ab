"""The ``native`` action format: tool calls in the syntax the tokenizer's own chat template renders.

Models trained on tool use (Qwen2.5 / Qwen3, Hermes, Llama 3.1) write calls the way their chat
template renders an assistant message's ``tool_calls``. Rather than hard-coding each family, the
syntax is read off the template: a probe call ``{"name": "rl_probe_fn", "arguments":
{"rl_probe_arg": 7}}`` is rendered, the JSON object carrying it is located in the rendered
assistant block, and the text around it becomes the call's delimiters (``<tool_call>`` ...
``</tool_call>`` for Qwen / Hermes; nothing for Llama 3.1's bare ``{"name": ..., "parameters":
...}``). The prompt is rendered with ``tools=`` so the template lists the tools in its own words.

A template that does not render ``tool_calls`` (SmolLM2's ChatML renders only ``content``) is a
:class:`~rewardlab.errors.ConfigError` naming the text formats to use instead. Parsing never raises:
an opened but unparsable call is ``Action.error`` (feedback and a count, as the text formats); a
turn without a call is the final answer (its whole text, as TRL's ``parse_response`` treats content).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from rewardlab.agents.actions import Action, _call_from_object
from rewardlab.errors import ConfigError

_PROBE_NAME = "rl_probe_fn"
_PROBE_ARGS = {"rl_probe_arg": 7}


def _probe_objects(text: str) -> tuple[int, int, dict] | None:
    """(start, end, object) of the JSON object in ``text`` that carries the probe call."""
    decoder = json.JSONDecoder()
    pos = text.find("{")
    while pos >= 0:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            obj, end = None, pos + 1
        if isinstance(obj, dict) and obj.get("name") == _PROBE_NAME:
            args = obj.get("arguments", obj.get("parameters"))
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    args = None
            if args == _PROBE_ARGS:
                return pos, end, obj
        pos = text.find("{", pos + 1)
    return None


class NativeToolFormat:
    """Parses turns written in a tokenizer's own tool-call syntax (see the module docstring)."""

    def __init__(self, open_tag: str, close_tag: str, arguments_key: str) -> None:
        self.open_tag, self.close_tag, self.arguments_key = open_tag, close_tag, arguments_key

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> NativeToolFormat:
        template = getattr(tokenizer, "chat_template", None)
        if not template:
            raise ConfigError(
                "action_format 'native' needs a tokenizer with a chat template that renders tool calls; "
                "this tokenizer has no chat template. Use 'hermes', 'call' or 'json'."
            )
        base = [{"role": "user", "content": "u"}]
        call = {"type": "function", "function": {"name": _PROBE_NAME, "arguments": dict(_PROBE_ARGS)}}
        try:
            opened = tokenizer.apply_chat_template(base, add_generation_prompt=True, tokenize=False)
            rendered = tokenizer.apply_chat_template(
                [*base, {"role": "assistant", "content": "", "tool_calls": [call]}], tokenize=False
            )
        except Exception as e:  # a template that fails on tool_calls cannot be used natively
            raise ConfigError(
                f"action_format 'native': the chat template failed to render a tool call "
                f"({type(e).__name__}: {e}); use 'hermes', 'call' or 'json'"
            ) from e
        block = rendered[len(opened) :] if rendered.startswith(opened) else rendered
        found = _probe_objects(block)
        if found is None:
            raise ConfigError(
                "action_format 'native': the tokenizer's chat template does not render tool calls (an "
                "assistant message's tool_calls do not appear in its output, as with SmolLM2's template); "
                "use 'hermes', 'call' or 'json'"
            )
        start, end, obj = found
        key = "arguments" if "arguments" in obj else "parameters"
        # the delimiters are the non-blank text around the JSON on its own lines of the block
        before = block[:start].rstrip().rsplit("\n", 1)[-1].strip()
        after = block[end:].lstrip().split("\n", 1)[0].strip()
        close = re.match(r"</[^<>]+>", after)
        opener = re.search(r"<[^<>/][^<>]*>$", before)
        close, opener = (close.group(0) if close else ""), (opener.group(0) if opener else "")
        return cls(opener, close, key)

    def instructions(self, tools: list[Any]) -> str:
        """A short reminder; the template itself lists the tools when the prompt is rendered."""
        example = json.dumps({"name": "TOOL", self.arguments_key: {}})
        return (
            f"To call a tool write {self.open_tag}{example}{self.close_tag} and stop; "
            "otherwise write the final answer."
        )

    def parse(self, text: str, tools: Mapping[str, Any] | None = None) -> Action:
        """Never raises: calls, an error for an unparsable one, or the final answer."""
        action = Action(text=text)
        decoder = json.JSONDecoder()
        if self.open_tag:
            starts, pos = [], text.find(self.open_tag)
            while pos >= 0:
                starts.append(pos + len(self.open_tag))
                pos = text.find(self.open_tag, pos + len(self.open_tag))
        else:  # bare JSON (Llama 3.1): a call is a turn that is one object with a "name"
            stripped = text.lstrip()
            starts = [len(text) - len(stripped)] if stripped.startswith("{") and '"name"' in stripped else []
        for s in starts:
            body = text[s:].lstrip()
            try:
                obj, end = decoder.raw_decode(body)
            except (ValueError, RecursionError) as e:
                action.error = f"the tool call is not valid JSON ({getattr(e, 'msg', type(e).__name__)})"
                action.calls = []
                return action
            if self.close_tag and not body[end:].lstrip().startswith(self.close_tag):
                action.error = f"a {self.open_tag} call is not closed with {self.close_tag}"
                action.calls = []
                return action
            call = _call_from_object(obj, body[:end])
            if isinstance(call, str):
                action.error = call
                action.calls = []
                return action
            action.calls.append(call)
        if not action.calls:
            action.answer = text.strip()
        return action


__all__ = ["NativeToolFormat"]
