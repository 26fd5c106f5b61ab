"""Tools: plain Python functions or methods, described by JSON schemas and called by name.

A tool's schema comes from its type hints and its Google-style docstring through transformers'
``get_json_schema`` (the route TRL's ``tools=`` and verl's ``@function_tool`` take), so the model
sees the same description a Hugging Face chat template would render. A call from the model is
untrusted input; :func:`dispatch` never lets it crash the episode:

============================  ===================================================  ==========
what happened                 observation the model gets                           outcome
============================  ===================================================  ==========
name not a tool               ``Error: unknown tool 'x'. Available tools: ...``    unknown
arguments do not bind/type    ``Error: bad arguments for x(...): why``             bad_args
tool raised :class:`ToolError`  ``Error: <its message>``                           tool_error
tool ran past ``timeout_s``   ``Error: tool x timed out after N s``                timeout
tool raised anything else     -- a :class:`ToolCrash` naming the env and the tool  (a bug)
============================  ===================================================  ==========

A :class:`ToolError` is the tool saying "this input is wrong" (a division by zero in a
calculator, a key that does not exist); any other exception is a bug in the tool, and hiding it
as feedback would train the model on a broken environment.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rewardlab.errors import RewardlabError

OUTCOMES = ("ok", "unknown", "bad_args", "tool_error", "timeout")


class ToolError(Exception):
    """Raised by a tool for bad input the model should hear about (becomes a feedback message)."""


class ToolCrash(RewardlabError):
    """A tool raised an exception other than :class:`ToolError`: a bug in the environment."""


def tool(fn: Callable | None = None, *, name: str | None = None, timeout_s: float | None = None) -> Any:
    """Mark a function or method as a tool (``@tool`` or ``@tool(timeout_s=2.0)``)."""

    def mark(f: Callable) -> Callable:
        f.__rewardlab_tool__ = {"name": name or f.__name__, "timeout_s": timeout_s}
        return f

    return mark(fn) if fn is not None else mark


@dataclass
class Tool:
    """A callable with its JSON schema (OpenAI / Hugging Face function format)."""

    name: str
    fn: Callable[..., Any]
    schema: dict[str, Any]
    timeout_s: float | None = None
    signature: inspect.Signature = field(init=False, repr=False)
    hints: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.signature = inspect.signature(self.fn)
        target = self.fn.__func__ if inspect.ismethod(self.fn) else self.fn
        try:
            self.hints = typing.get_type_hints(target)
        except Exception:  # unresolvable forward references: skip type checks, binding still checked
            self.hints = {}

    @classmethod
    def from_function(cls, fn: Callable, *, name: str | None = None, timeout_s: float | None = None) -> Tool:
        """Build the schema from ``fn``'s type hints and docstring; an error names what is missing."""
        from transformers.utils import get_json_schema

        try:
            schema = get_json_schema(fn)
        except (
            Exception
        ) as e:  # transformers raises its own DocstringParsingException / TypeHintParsingException
            raise RewardlabError(
                f"tool {getattr(fn, '__name__', fn)!r}: cannot build its JSON schema ({e}). A tool needs a "
                "type hint for every argument and a Google-style docstring with an Args: section."
            ) from None
        if name:
            schema["function"]["name"] = name
        schema["function"].pop("return", None)  # not part of the OpenAI tool format
        return cls(schema["function"]["name"], fn, schema, timeout_s)

    def signature_text(self) -> str:
        params = self.schema["function"]["parameters"].get("properties", {})
        return f"{self.name}(" + ", ".join(f"{k}: {v.get('type', 'any')}" for k, v in params.items()) + ")"


_CLASS_TOOLS: dict[type, list[tuple[str, Tool]]] = {}


def tools_of(obj: Any) -> list[Tool]:
    """The ``@tool``-marked methods of an object, in definition order, bound to it (schemas are
    built once per class: an env is made for every episode)."""
    cls = type(obj)
    if cls not in _CLASS_TOOLS:
        found, seen = [], set()
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                meta = getattr(value, "__rewardlab_tool__", None)
                if meta is not None and attr not in seen:
                    seen.add(attr)
                    t = Tool.from_function(getattr(obj, attr), name=meta["name"], timeout_s=meta["timeout_s"])
                    found.append((attr, t))
        _CLASS_TOOLS[cls] = found
    return [dataclasses.replace(t, fn=getattr(obj, attr)) for attr, t in _CLASS_TOOLS[cls]]


@dataclass
class ToolResult:
    """What one call produced: the text for the ``tool`` message and how it went (one of OUTCOMES)."""

    name: str
    content: str
    outcome: str = "ok"

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def _type_ok(value: Any, tp: Any) -> bool:
    """Loose JSON-type check of one argument: int is not bool, float accepts int, containers by origin."""
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(tp)
    if origin is typing.Union or isinstance(tp, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    base = origin or tp
    if base in (list, tuple):
        return isinstance(value, list | tuple)
    if base is dict:
        return isinstance(value, dict)
    return True  # anything richer: trust the tool to raise ToolError


def check_arguments(t: Tool, args: Any) -> str | None:
    """Why ``args`` cannot be passed to ``t`` (None when they can)."""
    if not isinstance(args, dict):
        return f"arguments must be a JSON object, got {type(args).__name__}"
    try:
        bound = t.signature.bind(**args)
    except TypeError as e:
        return str(e)
    for key, value in bound.arguments.items():
        tp = t.hints.get(key, inspect.Parameter.empty)
        if not _type_ok(value, tp):
            return f"argument {key!r} = {json.dumps(value)[:40]} is not a {getattr(tp, '__name__', tp)}"
    return None


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="rewardlab-tool")
    return _POOL


def dispatch(tools: dict[str, Tool], name: str, args: Any, *, env_name: str = "env") -> ToolResult:
    """Call tool ``name`` with ``args``; every model mistake becomes a :class:`ToolResult` with an
    error outcome, a bug in the tool a :class:`ToolCrash` naming ``env_name`` and the tool."""
    t = tools.get(name) if isinstance(name, str) else None
    if t is None:
        available = ", ".join(sorted(tools)) or "(none)"
        return ToolResult(
            str(name), f"Error: unknown tool {str(name)[:60]!r}. Available tools: {available}", "unknown"
        )
    why = check_arguments(t, args)
    if why is not None:
        return ToolResult(name, f"Error: bad arguments for {t.signature_text()}: {why}", "bad_args")
    try:
        if t.timeout_s is None:
            value = t.fn(**args)
        else:
            # a thread cannot be killed: a timed-out call keeps running in the background, so
            # tools with a timeout must be side-effect free (or run their own subprocess)
            future = _pool().submit(t.fn, **args)
            try:
                value = future.result(timeout=t.timeout_s)
            except concurrent.futures.TimeoutError:
                return ToolResult(name, f"Error: tool {name} timed out after {t.timeout_s:g} s", "timeout")
    except ToolError as e:
        return ToolResult(name, f"Error: {e}", "tool_error")
    except Exception as e:
        raise ToolCrash(
            f"environment {env_name!r}: tool {name!r} raised {type(e).__name__}: {e} (arguments {args!r}). "
            "A tool signals bad input with rewardlab.agents.ToolError; any other exception is a bug."
        ) from e
    return ToolResult(name, value if isinstance(value, str) else json.dumps(value, default=str))


__all__ = [
    "OUTCOMES",
    "Tool",
    "ToolCrash",
    "ToolError",
    "ToolResult",
    "check_arguments",
    "dispatch",
    "tool",
    "tools_of",
]
