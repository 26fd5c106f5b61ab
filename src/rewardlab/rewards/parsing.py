"""Parsers shared by the built-in rewards: tags, answers, JSON / Python-literal actions, code, numbers.

Every parser treats model output as untrusted: it never evaluates code (``json.loads`` and
``ast.literal_eval`` only), bounds the input size, and raises
:class:`~rewardlab.rewards.base.Malformed` with a short reason when the output cannot be used.
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings
from typing import Any

from rewardlab.rewards.base import Malformed

#: model output longer than this is not parsed as a structure (literal_eval recursion / memory)
MAX_STRUCTURED_CHARS = 100_000


def tag_content(text: str, tag: str) -> str | None:
    """Stripped content of the first ``<tag>...</tag>`` (DOTALL), or None when absent."""
    m = re.search(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", text, re.DOTALL)
    return m.group(1).strip() if m else None


def answer_text(text: str, tag: str | None = "answer") -> str:
    """The ``<tag>`` content when present, else the whole (stripped) text."""
    if tag:
        inner = tag_content(text, tag)
        if inner is not None:
            return inner
    return text.strip()


def tags_pattern(tags: tuple[str, ...] | list[str]) -> re.Pattern[str]:
    """``<t1>.*?</t1>\\s*<t2>.*?</t2>...`` for a full match with DOTALL (UI-R1's format regex)."""
    body = r"\s*".join(rf"<{re.escape(t)}>.*?</{re.escape(t)}>" for t in tags)
    return re.compile(body, re.DOTALL)


_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)


def last_code_block(text: str) -> str | None:
    """Content of the last closed fenced code block (```lang ... ```), or None."""
    blocks = _FENCE.findall(text)
    return blocks[-1] if blocks else None


def code_from_completion(text: str) -> str:
    """The last fenced code block if there is one, else the whole completion."""
    block = last_code_block(text)
    return block if block is not None else text


def _strip_fence(text: str) -> str:
    block = last_code_block(text)
    return block.strip() if block is not None else text.strip()


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" etc. from model output
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise Malformed(f"not JSON or a Python literal: {text[:60]!r}") from None


def parse_structured(text: str) -> Any:
    """Parse a JSON value or a Python literal (UI-R1's model writes ``[{'action': 'click', ...}]``).

    A code fence around it is removed; if the whole text does not parse, the span from the first
    ``[`` or ``{`` to the last ``]`` or ``}`` is tried. Never evaluates code.
    """
    if not isinstance(text, str):
        return text
    text = _strip_fence(text)
    if not text:
        raise Malformed("empty answer")
    if len(text) > MAX_STRUCTURED_CHARS:
        raise Malformed(f"answer too long to parse ({len(text)} characters)")
    try:
        return _literal(text)
    except Malformed:
        starts = [i for i in (text.find("["), text.find("{")) if i >= 0]
        end = max(text.rfind("]"), text.rfind("}"))
        if starts and end > min(starts):
            return _literal(text[min(starts) : end + 1])
        raise


def structured_answer(text: str, tag: str | None = "answer") -> Any:
    """Parse the ``<tag>`` content (or the whole text) as JSON / a Python literal."""
    return parse_structured(answer_text(text, tag))


def structured_reference(reference: Any, tag: str | None = "answer") -> Any:
    """References use the same forms as answers: already-parsed values pass through; strings are parsed."""
    if isinstance(reference, str):
        return structured_answer(reference, tag)
    return reference


def as_action(obj: Any) -> dict[str, Any]:
    """An action object ``{"action": type, ...args}``; a one-element list of it is accepted."""
    if isinstance(obj, list | tuple) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict):
        raise Malformed(f"expected an action object, got {type(obj).__name__}")
    if "action" not in obj:
        raise Malformed("action object has no 'action' key")
    return obj


def as_number(x: Any, what: str = "value") -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise Malformed(f"{what} {x!r} is not a number")
    f = float(x)
    if not math.isfinite(f):
        raise Malformed(f"{what} {x!r} is not finite")
    return f


def as_point(obj: Any) -> tuple[float, float]:
    if not isinstance(obj, list | tuple) or len(obj) != 2:
        raise Malformed(f"a point is [x, y], got {obj!r}"[:80])
    return as_number(obj[0], "coordinate"), as_number(obj[1], "coordinate")


def as_points(obj: Any) -> list[tuple[float, float]]:
    if not isinstance(obj, list | tuple) or not obj:
        raise Malformed("a trajectory is a non-empty list of [x, y] points")
    return [as_point(p) for p in obj]


def as_box(obj: Any, box_format: str = "xyxy") -> tuple[float, float, float, float]:
    """``[x1, y1, x2, y2]`` (``box_format="xyxy"``) or VLA-R1's normalised centre form
    ``{"x", "y", "width", "height"}`` (also accepted as a list with ``box_format="cxcywh"``),
    returned as (x1, y1, x2, y2). A dict with a ``"bbox"`` key is unwrapped."""
    if isinstance(obj, dict) and "bbox" in obj:
        obj = obj["bbox"]
    if isinstance(obj, list | tuple) and len(obj) == 1 and isinstance(obj[0], list | tuple | dict):
        obj = obj[0]
    if isinstance(obj, dict):
        if not all(k in obj for k in ("x", "y", "width", "height")):
            raise Malformed("a box object needs x, y, width, height")
        return cxcywh_to_xyxy(*(as_number(obj[k], k) for k in ("x", "y", "width", "height")))
    if not isinstance(obj, list | tuple) or len(obj) != 4:
        raise Malformed(f"a box is [x1, y1, x2, y2], got {obj!r}"[:80])
    nums = tuple(as_number(v, "box coordinate") for v in obj)
    if box_format == "cxcywh":
        return cxcywh_to_xyxy(*nums)
    return nums  # type: ignore[return-value]


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def cxcywh_to_xyxy(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    """VLA-R1 ``_xywhc_to_xyxy``: |w|, |h|, corners clipped to [0, 1] (normalised coordinates)."""
    w, h = abs(w), abs(h)
    return _clip01(x - w / 2), _clip01(y - h / 2), _clip01(x + w / 2), _clip01(y + h / 2)


# ---- text normalisation & final answers ------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def normalize_text(
    text: str,
    *,
    case_sensitive: bool = False,
    strip_punctuation: bool = False,
    remove_articles: bool = False,
    collapse_whitespace: bool = True,
) -> str:
    """The SQuAD-style normalisation steps, each optional (unicode-aware)."""
    if not case_sensitive:
        text = text.casefold()
    if strip_punctuation:
        text = _PUNCT.sub(" ", text)
    if remove_articles:
        text = _ARTICLES.sub(" ", text)
    if collapse_whitespace:
        text = " ".join(text.split())
    return text.strip()


def last_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{...}`` (or ``\fbox{...}``), braces balanced; None if absent."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j].strip()
    return None


_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?|-?\.\d+")


def last_number(text: str) -> str | None:
    """The last number in the text (``1,000``, ``-2.5``, ``3/4`` forms), or None."""
    found = _NUMBER.findall(text)
    return found[-1] if found else None


def final_answer(text: str, tag: str | None = "answer") -> str:
    r"""The final answer of a math completion: ``<answer>`` content (its ``\boxed{}`` if it has
    one), else the last ``\boxed{}``, else the last number."""
    if tag:
        inner = tag_content(text, tag)
        if inner is not None:
            boxed = last_boxed(inner)
            if boxed is not None:
                return boxed
            if inner:
                return inner
            raise Malformed(f"empty <{tag}>")
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    number = last_number(text)
    if number is not None:
        return number
    raise Malformed("no <answer>, \\boxed{} or number in the completion")
