"""The Reward contract: ``Sample`` in, one float64 per sample out, every component on record.

A :class:`Reward` is called on a batch of :class:`Sample` objects. ``reward(samples)`` returns the
totals as a numpy float64 array; ``reward.score(samples)`` returns a :class:`RewardResult` that
also holds each component's values (for logging), a note per sample (why a completion was
malformed, which error was zeroed) and counters.

Two kinds of failure are told apart:

* **Malformed model output** (no ``<answer>`` tag, JSON that does not parse, a box with three
  numbers, ...). Model output is untrusted, so this is normal during training: the sample
  scores the reward's ``minimum``, the reason goes into the sample's note and the
  ``<name>/malformed`` counter. It never raises. Built-in rewards signal it by raising
  :class:`Malformed`; user rewards may do the same.
* **A bug in the reward** (an exception other than :class:`Malformed`, a NaN or infinite value,
  the wrong number of values from a batch function). With ``on_error="raise"`` (default) this is
  a :class:`~rewardlab.errors.RewardlabError` that names the reward and the sample index; with
  ``on_error="zero"`` the sample scores 0.0, and every occurrence is noted and counted under
  ``<name>/errors`` so the run log shows it.

A reward that runs too long: set ``timeout_s`` (a constructor argument of :func:`reward`,
:class:`FunctionReward` and :func:`from_trl`, or an attribute of any Reward; :func:`set_timeout`
sets it on a whole tree). Each call of the reward's own code (``compute`` for one sample, the
batch call of a TRL function) then runs in a helper thread and the caller waits at most
``timeout_s`` seconds. No signals are used, so this works the same from the main thread and
from worker threads. A Python thread cannot be killed, so on a timeout the helper thread is
*stopped* by raising :class:`RewardTimeout` inside it (``PyThreadState_SetAsyncExc``): that
ends any pure-Python loop at its next bytecode. Code blocked inside C (``time.sleep``, a regex,
a socket read) cannot be interrupted this way; it is left running in the background as a daemon
thread (it cannot change any score) and the note says so; once
:data:`MAX_ABANDONED` such threads are still alive, the reward refuses to run (an error), so hung
calls cannot pile up. For code that must be stopped for certain, run it in a subprocess, as
``code_tests`` does. A timeout is an error of the reward: ``on_error="raise"`` raises a
:class:`~rewardlab.errors.RewardlabError` naming the reward, the sample and ``timeout_s``;
``on_error="zero"`` scores the sample 0 and counts it under ``<name>/errors`` and
``<name>/timeouts``.

Per-sample functions become Rewards with :func:`reward`; TRL reward functions with
:func:`from_trl`.

**Group-level rewards.** Some rewards score a sample against the other samples of its group (the
``num_generations`` completions of one prompt in GRPO): SRPO's self-referential reward ranks a
failure by its distance to the group's successes. A :class:`GroupReward` implements
:meth:`GroupReward.compute_group` (the group's samples in, one value per sample out) instead of
``compute``. Which samples form a group is ``Sample.group`` (the trainer sets it to the prompt's
index in the batch); samples without one are grouped by their prompt text. Every other reward
ignores ``Sample.group``, so per-sample rewards and combinators behave as before, and a combinator
(which scores each child on the whole batch) can hold a group reward.
"""

from __future__ import annotations

import contextlib
import ctypes
import inspect
import math
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab.errors import ConfigError, RewardlabError

Messages = list[dict[str, Any]]
ON_ERROR = ("raise", "zero")
MAX_ABANDONED = 8  # hung reward threads (blocked in C) still alive before a reward refuses to run
_abandoned: list[threading.Thread] = []


def _message_text(messages: Any) -> str:
    """Text of a chat completion: the concatenated ``content`` of its messages."""
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list | tuple):
        raise RewardlabError(
            f"a Sample's completion must be text (a string) or chat messages (a list of "
            f"{{'role': ..., 'content': ...}} dicts), got {messages!r:.60} (type {type(messages).__name__})"
        )
    parts = []
    for m in messages:
        content = m.get("content", "") if isinstance(m, dict) else m
        if not isinstance(content, str | list | None):
            raise RewardlabError(
                f"a chat message's content must be a string, got {content!r:.60} (type {type(content).__name__})"
            )
        parts.append(content if isinstance(content, str) else str(content or ""))
    return "".join(parts)


class RewardTimeout(BaseException):  # noqa: N818 - a BaseException so `except Exception` in a reward cannot swallow it
    """Raised inside a reward's helper thread to stop it after ``timeout_s``."""


class CallTimedOut(Exception):  # noqa: N818
    """:func:`call_with_timeout` ran past its limit; ``stopped`` says whether the call ended."""

    def __init__(self, stopped: bool) -> None:
        self.stopped = stopped


def call_with_timeout(fn: Callable[..., Any], timeout_s: float | None, *args: Any) -> Any:
    """``fn(*args)``, or :class:`CallTimedOut` after ``timeout_s`` wall-clock seconds.

    Runs ``fn`` in a daemon thread (no signals: safe from any thread); see the module docstring
    for how a timed-out call is stopped and what cannot be stopped.
    """
    if timeout_s is None:
        return fn(*args)
    _abandoned[:] = [t for t in _abandoned if t.is_alive()]
    if len(_abandoned) >= MAX_ABANDONED:
        raise RewardlabError(
            f"{len(_abandoned)} reward calls that ran past their timeout_s are still blocked (in C code "
            "that cannot be interrupted); refusing to start more. Fix the hanging reward, or run it in a subprocess."
        )
    box: dict[str, Any] = {}
    torch = sys.modules.get("torch")
    grad = torch.is_grad_enabled() if torch is not None else None  # grad mode is per thread

    def target() -> None:
        try:
            if torch is not None:
                with torch.set_grad_enabled(grad):
                    box["value"] = fn(*args)
            else:
                box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the caller below
            box["error"] = e

    thread = threading.Thread(target=target, name="rewardlab-reward", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(RewardTimeout)
        )
        thread.join(0.2)
        if thread.is_alive():
            _abandoned.append(thread)
        raise CallTimedOut(stopped=not thread.is_alive())
    if "error" in box:
        raise box["error"]
    return box["value"]


def set_timeout(reward: Reward, timeout_s: float | None, *, overwrite: bool = False) -> Reward:
    """Give ``reward`` and every reward inside it (combinators' children) a ``timeout_s``; those
    that already have one keep it unless ``overwrite``. Returns ``reward``."""
    _check_timeout(reward.name, timeout_s)
    for r in [reward, *_descendants(reward)]:
        if overwrite or getattr(r, "timeout_s", None) is None:
            r.timeout_s = timeout_s
    return reward


def _descendants(reward: Reward) -> list[Reward]:
    out = []
    for child in reward.children():
        out += [child, *_descendants(child)]
    return out


def _check_timeout(name: str, timeout_s: Any) -> None:
    if timeout_s is not None and (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not math.isfinite(timeout_s)
        or timeout_s <= 0
    ):
        raise ConfigError(
            f"reward {name!r}: timeout_s must be a number of seconds > 0 (or None for no limit), got {timeout_s!r}"
        )


@dataclass
class Sample:
    """One scored item: what the policy saw, what it wrote, and the ground truth.

    ``prompt`` is a string or chat messages; ``completion`` the generated text (chat messages are
    joined into text); ``reference`` the ground truth in whatever form the reward expects;
    ``info`` any extra columns (image scale, difficulty, token count, ...); ``completion_ids``
    the generated token ids when the trainer has them (length-based rewards count tokens).
    ``parsed`` caches what parsers extracted from the completion, so several rewards on the same
    batch parse it once. ``group`` says which samples a :class:`GroupReward` scores together (GRPO
    trainers set it to the prompt's index in the batch); None = grouped by prompt text.
    """

    prompt: str | Messages = ""
    completion: str = ""
    reference: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    completion_ids: Sequence[int] | None = None
    parsed: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    group: Any = None

    def __post_init__(self) -> None:
        # A bad type raises RewardlabError here (never a TypeError deep inside a reward).
        if self.completion is None:
            self.completion = ""
        elif not isinstance(self.completion, str):
            self.completion = _message_text(self.completion)
        if self.info is None:
            self.info = {}

    def cached(self, key: str, parse: Callable[[str], Any]) -> Any:
        """``parse(self.completion)``, computed once per sample; a :class:`Malformed` is cached too."""
        if key not in self.parsed:
            try:
                self.parsed[key] = parse(self.completion)
            except Malformed as e:
                self.parsed[key] = e
        value = self.parsed[key]
        if isinstance(value, Malformed):
            raise value
        return value


class Malformed(Exception):  # noqa: N818 - reads as "raise Malformed(why)"
    """The model's output cannot be scored (bad format). The sample gets the reward's minimum."""


@dataclass
class Scored:
    """What :meth:`Reward.compute` may return instead of a bare float."""

    value: float
    parts: dict[str, float] = field(default_factory=dict)
    note: str = ""
    malformed: bool = False
    error: bool = False
    not_applicable: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # reward-specific counters, see Reward.counters


@dataclass
class RewardResult:
    """A scored batch: totals, every component's values, a note per sample, and counters.

    ``components`` maps a component name to its per-sample values; it never contains the total,
    which lives in ``total`` under ``name``. ``bounds`` maps the name and each component to its
    declared (min, max). ``counts`` holds ``<reward>/malformed``, ``<reward>/errors`` and
    ``<reward>/not_applicable`` for every reward in the tree that saw such a sample.
    """

    name: str
    total: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.total)

    def values(self) -> dict[str, np.ndarray]:
        """The total (under the reward's name) followed by every component."""
        return {self.name: self.total, **self.components}

    def means(self) -> dict[str, float]:
        """Mean of the total and of each component over the batch (NaN for an empty batch)."""
        return {k: float(np.mean(v)) if len(v) else math.nan for k, v in self.values().items()}

    def metrics(self, prefix: str = "reward/") -> dict[str, float]:
        """What a trainer logs per step: ``{prefix + name: mean}`` for the total and each component,
        plus every non-zero counter (``prefix + "<reward>/malformed"``, ...) as a float."""
        out = {prefix + k: v for k, v in self.means().items()}
        out.update({prefix + k: float(v) for k, v in self.counts.items() if v})
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per sample: ``index``, the total under the reward's name,
        ``components`` and ``note`` (the LLM trainers' samples.jsonl reads this shape)."""
        return [
            {
                "index": i,
                self.name: float(self.total[i]),
                "components": {k: float(v[i]) for k, v in self.components.items()},
                "note": self.notes[i] if self.notes else "",
            }
            for i in range(len(self.total))
        ]


def as_samples(samples: Any) -> list[Sample]:
    """Accept one Sample, a sequence of Samples, or dicts with Sample's fields."""
    if isinstance(samples, Sample):
        return [samples]
    out = []
    for i, s in enumerate(samples):
        if isinstance(s, Sample):
            out.append(s)
        elif isinstance(s, dict):
            try:
                out.append(Sample(**s))
            except TypeError as e:
                raise RewardlabError(f"sample {i} is not a valid Sample: {e}") from None
        else:
            raise RewardlabError(f"sample {i} is a {type(s).__name__}, not a Sample")
    return out


def reference_of(sample: Sample) -> Any:
    """The sample's reference; a missing one is a data bug (it follows on_error), not bad model output."""
    if sample.reference is None:
        raise ValueError("the sample has no reference (ground truth)")
    return sample.reference


def _preview(text: str, n: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[: n - 3] + "..."


class Reward:
    """Base class: a named reward over a batch of samples.

    Subclasses implement :meth:`compute` for one sample (return a float, or a :class:`Scored` with
    named ``parts``; raise :class:`Malformed` for unscoreable model output), or override
    :meth:`score` for whole-batch logic (combinators do). ``minimum`` / ``maximum`` declare the
    range (malformed output scores ``minimum``); ``part_bounds()`` declares the parts' ranges.
    """

    name: str = "reward"
    minimum: float = 0.0
    maximum: float = 1.0
    description: str = ""
    timeout_s: float | None = None  # wall-clock limit per call of the reward's code (module docstring)
    # Reward-specific counters (e.g. code_tests' "violations"): always reported as
    # ``<name>/<counter>``, summed from each Scored's ``counts``.
    counters: tuple[str, ...] = ()
    #: True for a reward whose value depends on the rest of the sample's group (:class:`GroupReward`);
    #: such a reward must see whole groups, so it cannot be scored in chunks (rewards/pool.py refuses)
    group_level: bool = False

    def __init__(
        self, *, name: str | None = None, on_error: str = "raise", timeout_s: float | None = None
    ) -> None:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise ConfigError(f"reward name must be a non-empty string, got {name!r}")
            self.name = name
        if on_error not in ON_ERROR:
            raise ConfigError(
                f"reward {self.name!r}: on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}"
            )
        self.on_error = on_error
        if timeout_s is not None:
            _check_timeout(self.name, timeout_s)
            self.timeout_s = float(timeout_s)

    # ---- what subclasses write -------------------------------------------------------------
    def compute(self, sample: Sample) -> float | Scored:
        raise NotImplementedError(f"{type(self).__name__} must implement compute() or score()")

    def part_bounds(self) -> dict[str, tuple[float, float]]:
        """Declared (min, max) of each named part that :meth:`compute` returns (none by default)."""
        return {}

    def children(self) -> list[Reward]:
        """The rewards this one is made of (combinators); none for a leaf reward."""
        return []

    # ---- the public API --------------------------------------------------------------------
    def __call__(self, samples: Sequence[Sample]) -> np.ndarray:
        return self.score(samples).total

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        return self.assemble(samples, [self.score_one(i, s) for i, s in enumerate(samples)])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    # ---- shared machinery ------------------------------------------------------------------
    def error(
        self,
        index: int,
        sample: Sample | None,
        what: str,
        cause: BaseException | None = None,
        *,
        hint: str | None = None,
        counts: dict[str, int] | None = None,
    ) -> Scored:
        """A reward bug on sample ``index``: raise (default) or score 0 with a note.

        ``hint`` replaces the default advice of the raised message (say what to fix where
        on_error='zero' would hide every value); ``counts`` adds reward-specific counters."""
        where = f"sample {index}"
        if sample is not None:
            where += f" (completion {_preview(sample.completion)!r})"
        if self.on_error == "raise":
            if hint is None:
                hint = (
                    "This is a problem with the reward or its inputs (reference, info), not with the model "
                    "output; fix it, or, if only some samples are affected, construct the reward with "
                    "on_error='zero' to score such samples 0 and count them."
                )
            raise RewardlabError(f"reward {self.name!r} {what} on {where}. {hint}") from cause
        parts = {p: 0.0 for p in self.part_bounds()}
        return Scored(0.0, parts, note=f"error: {what}", error=True, counts=dict(counts or {}))

    def timed_out(self, index: int, sample: Sample | None, e: CallTimedOut) -> Scored:
        """The error for a call that ran past ``timeout_s`` (counted under ``<name>/timeouts`` too)."""
        state = "stopped" if e.stopped else "blocked in C code, left running in the background"
        hint = (
            "Make the reward faster or fix what makes it hang, or raise timeout_s if it is only slow; "
            f"with on_error='zero' such samples score 0 and are counted under {self.name}/timeouts."
        )
        return self.error(
            index,
            sample,
            f"ran past its timeout_s={self.timeout_s:g} s ({state})",
            hint=hint,
            counts={"timeouts": 1},
        )

    def malformed(self, reason: str) -> Scored:
        parts = {p: lo for p, (lo, _) in self.part_bounds().items()}
        return Scored(self.minimum, parts, note=reason, malformed=True)

    def score_one(self, index: int, sample: Sample) -> Scored:
        """:meth:`compute` with the failure rules applied and the value checked."""
        try:
            out = call_with_timeout(self.compute, self.timeout_s, sample)
        except Malformed as e:
            return self.malformed(str(e) or "malformed output")
        except CallTimedOut as e:
            return self.timed_out(index, sample, e)
        except RewardlabError:
            raise
        except Exception as e:  # a bug in the reward itself
            return self.error(index, sample, f"raised {type(e).__name__}: {e}", e)
        if not isinstance(out, Scored):
            out = Scored(out)
        value = self.check_value(index, sample, out.value)
        if isinstance(value, Scored):
            return value
        out.value = value
        for part, v in out.parts.items():
            checked = self.check_value(index, sample, v, part=part)
            if isinstance(checked, Scored):
                return checked
            out.parts[part] = checked
        return out

    def check_value(self, index: int, sample: Sample | None, value: Any, part: str = "") -> float | Scored:
        what = f"part {part!r} " if part else ""
        if isinstance(value, bool | np.bool_):
            return float(value)
        try:
            f = float(value)
        except (TypeError, ValueError):
            return self.error(
                index, sample, f"returned {what}{value!r} (a {type(value).__name__}, not a number)"
            )
        if not math.isfinite(f):
            return self.error(index, sample, f"returned {what}{f} (rewards must be finite)")
        return f

    def assemble(self, samples: Sequence[Sample], scored: Sequence[Scored]) -> RewardResult:
        """Build the :class:`RewardResult` of a leaf reward from its per-sample outcomes."""
        n = len(scored)
        total = np.fromiter((s.value for s in scored), dtype=np.float64, count=n)
        bounds = {self.name: (self.minimum, self.maximum)}
        components = {}
        for part, b in self.part_bounds().items():
            key = f"{self.name}/{part}"
            components[key] = np.fromiter(
                (s.parts.get(part, b[0]) for s in scored), dtype=np.float64, count=n
            )
            bounds[key] = b
        notes = [f"{self.name}: {s.note}" if s.note else "" for s in scored]
        counts = {
            f"{self.name}/malformed": sum(s.malformed for s in scored),
            f"{self.name}/errors": sum(s.error for s in scored),
            f"{self.name}/not_applicable": sum(s.not_applicable for s in scored),
        }
        declared = [*self.counters, *(["timeouts"] if self.timeout_s is not None else [])]
        for key in dict.fromkeys([*declared, *(k for s in scored for k in s.counts)]):
            counts[f"{self.name}/{key}"] = sum(s.counts.get(key, 0) for s in scored)
        return RewardResult(self.name, total, components, bounds, notes, counts)


def group_indices(samples: Sequence[Sample]) -> list[list[int]]:
    """The batch's groups as lists of indices, in order of first appearance: by ``Sample.group``,
    or by prompt text for samples whose ``group`` is None."""
    groups: dict[Any, list[int]] = {}
    for i, s in enumerate(samples):
        prompt = s.prompt if isinstance(s.prompt, str) else _message_text(s.prompt)
        key = ("group", s.group) if s.group is not None else ("prompt", prompt)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def group_reward_in(reward: Reward) -> Reward | None:
    """The first reward of ``reward``'s tree (itself included) that scores samples against their
    group, or None."""
    return next((r for r in [reward, *_descendants(reward)] if getattr(r, "group_level", False)), None)


class GroupReward(Reward):
    """A reward whose value for a sample depends on the other samples of its group.

    Subclasses implement :meth:`compute_group`: the group's samples in (in batch order), one float
    or :class:`Scored` per sample out. A :class:`Malformed` raised for the group, or any other
    exception, applies to every sample of the group (the failure rules of the module docstring,
    with the group's indices named); ``timeout_s`` bounds each group's call.
    """

    group_level = True

    def compute_group(self, samples: list[Sample]) -> Sequence[float | Scored]:
        raise NotImplementedError(f"{type(self).__name__} must implement compute_group()")

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        scored: list[Scored] = [Scored(0.0)] * len(samples)
        for indices in group_indices(samples):
            for i, out in zip(indices, self._score_group(indices, [samples[i] for i in indices])):
                scored[i] = out
        return self.assemble(samples, scored)

    def _score_group(self, indices: list[int], members: list[Sample]) -> list[Scored]:
        first = members[0]
        where = f"in the group of samples {indices}"
        try:
            values = list(call_with_timeout(self.compute_group, self.timeout_s, members))
        except Malformed as e:
            return [self.malformed(str(e) or "malformed output") for _ in members]
        except CallTimedOut as e:
            return [self.timed_out(indices[0], first, e)] * len(members)
        except RewardlabError:
            raise
        except Exception as e:  # a bug in the reward itself
            return [self.error(indices[0], first, f"raised {type(e).__name__}: {e} {where}", e)] * len(
                members
            )
        if len(values) != len(members):
            raise RewardlabError(
                f"reward {self.name!r}: compute_group returned {len(values)} values for a group of "
                f"{len(members)} samples ({indices}); it must return exactly one value per sample"
            )
        out = []
        for i, s, v in zip(indices, members, values):
            result = v if isinstance(v, Scored) else Scored(v)
            checked = self.check_value(i, s, result.value)
            if isinstance(checked, Scored):
                out.append(checked)
                continue
            result.value = checked
            out.append(result)
        return out


class FunctionReward(Reward):
    """A Reward around a per-sample function ``f(sample) -> float`` (see :func:`reward`)."""

    def __init__(
        self,
        func: Callable[[Sample], Any],
        *,
        name: str | None = None,
        minimum: float = 0.0,
        maximum: float = 1.0,
        on_error: str = "raise",
        description: str = "",
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(
            name=name or getattr(func, "__name__", "reward"), on_error=on_error, timeout_s=timeout_s
        )
        self.func = func
        self.minimum, self.maximum = float(minimum), float(maximum)
        self.description = description or (func.__doc__ or "").strip().split("\n")[0]

    def compute(self, sample: Sample) -> float | Scored:
        return self.func(sample)


def reward(
    func: Callable[[Sample], Any] | None = None,
    *,
    name: str | None = None,
    minimum: float = 0.0,
    maximum: float = 1.0,
    on_error: str = "raise",
    timeout_s: float | None = None,
) -> Any:
    """Turn a per-sample function ``f(sample) -> float`` into a :class:`Reward`.

    Use as ``@reward`` or ``@reward(name="brevity", minimum=-1, maximum=0, timeout_s=5)``. The
    function may raise :class:`Malformed` for unscoreable model output (the sample scores
    ``minimum``); any other exception, a NaN, a non-number or running past ``timeout_s`` follows
    ``on_error``.
    """

    def wrap(f: Callable[[Sample], Any]) -> FunctionReward:
        return FunctionReward(
            f, name=name, minimum=minimum, maximum=maximum, on_error=on_error, timeout_s=timeout_s
        )

    return wrap(func) if func is not None else wrap


def is_conversational_prompt(prompt: Any) -> bool:
    """Whether a prompt is chat messages, as TRL's ``is_conversational`` tells: a list of dicts
    with a ``role`` key."""
    return (
        isinstance(prompt, list) and bool(prompt) and all(isinstance(m, dict) and "role" in m for m in prompt)
    )


FORMATS = {True: "conversational", False: "text"}
_KWARGS = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)


class TRLReward(Reward):
    """A TRL-style batch reward function ``f(prompts, completions, **columns) -> list[float | None]``.

    How it is called (the TRL ``GRPOTrainer`` convention): ``prompts`` and ``completions`` are
    lists; when the prompts are chat messages (:func:`is_conversational_prompt`), each completion
    is passed as ``[{"role": "assistant", "content": text}]``, else as text. Each key of the
    samples' ``info`` dicts becomes a keyword argument holding one value per sample (None where a
    sample lacks it), the references are passed as ``reference_key`` (default ``"solution"``, the
    column TRL's ``accuracy_reward`` reads) and token ids, when every sample has them, as
    ``completion_ids``.

    The format: with ``conversational=None`` (default) the function's annotation of
    ``completions`` decides when it has one (TRL's shipped functions, e.g.
    ``trl.rewards.think_format_reward``, declare ``list[list[dict[str, str]]]`` and index
    ``completion[0]["content"]``, so they get the conversational form even with text prompts);
    else the prompts decide, like TRL. When every sample of a batch fails with a type, key,
    index or attribute error in that form and the batch succeeds in the other one, the other one
    is used from then on (``self.format`` then names it; None while it is decided per batch).
    Pass ``conversational=True`` / ``False`` to force one. A function that needs a column the samples
    do not have (e.g. ``completion_ids``) is an error naming the column and those available.

    ``None`` means "not applicable to this sample". TRL turns it into NaN and leaves that
    function out of the sample's weighted sum (nansum). Here a Reward's values are always finite:
    None becomes ``none_value`` (default 0.0, which gives the same weighted sum as TRL's
    nansum), and it is counted under ``<name>/not_applicable`` and noted for the sample.

    A function that raises is called again one sample at a time to find the sample that breaks
    it, so the error names the sample index (with ``on_error="zero"`` only that sample scores 0);
    when every sample fails, the error says so and suggests nothing that would zero them all.
    Returning the wrong number of values is always an error naming the reward. ``timeout_s``
    bounds each call of the function (the batch call, and each one-sample retry).
    """

    def __init__(
        self,
        func: Callable[..., Sequence[float | None]],
        *,
        name: str | None = None,
        none_value: float = 0.0,
        reference_key: str = "solution",
        conversational: bool | None = None,
        minimum: float = -math.inf,
        maximum: float = math.inf,
        on_error: str = "raise",
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(
            name=name or getattr(func, "__name__", "trl_reward"), on_error=on_error, timeout_s=timeout_s
        )
        if not callable(func):
            raise ConfigError(
                f"from_trl needs a function (prompts, completions, **columns) -> list, got {func!r:.60}"
            )
        if conversational not in (None, True, False):
            raise ConfigError(
                f"reward {self.name!r}: conversational must be None (detect), True or False, got {conversational!r}"
            )
        self.func = func
        self.none_value = float(none_value)
        self.reference_key = reference_key
        self.conversational = conversational
        self.format: str | None = None if conversational is None else FORMATS[conversational]
        self.minimum, self.maximum = float(minimum), float(maximum)
        self.description = f"TRL reward function {getattr(func, '__name__', func)!r}"
        try:
            params = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            params = []
        self._required = [
            p.name
            for p in params
            if p.default is inspect.Parameter.empty
            and p.kind not in _KWARGS
            and p.name not in ("prompts", "completions")
        ]
        # TRL annotates what its functions take: completions: list[list[dict[str, str]]] (chat) or
        # list[str] (text). When it says, that decides the format instead of the prompts.
        hint = next((str(p.annotation) for p in params if p.name == "completions"), "")
        self.expects: bool | None = ("dict" in hint) if hint.startswith("list[") else None

    def _columns(self, samples: list[Sample]) -> dict[str, list[Any]]:
        columns: dict[str, list[Any]] = {}
        for key in dict.fromkeys(k for s in samples for k in s.info):
            columns[key] = [s.info.get(key) for s in samples]
        columns[self.reference_key] = [s.reference for s in samples]
        if samples and all(s.completion_ids is not None for s in samples):
            columns["completion_ids"] = [list(s.completion_ids) for s in samples]
        missing = [p for p in self._required if p not in columns]
        if missing:
            have = ", ".join(["prompts", "completions", *columns])
            raise RewardlabError(
                f"reward {self.name!r}: the TRL function needs the column(s) {', '.join(map(repr, missing))}, "
                f"which the samples do not have (it gets: {have}); add them to each Sample's info"
                + (", or give every Sample its completion_ids" if "completion_ids" in missing else "")
            )
        return columns

    def _call(self, samples: list[Sample], conversational: bool) -> Sequence[Any]:
        prompts = [s.prompt for s in samples]
        if conversational:
            completions: list[Any] = [[{"role": "assistant", "content": s.completion}] for s in samples]
        else:
            completions = [s.completion for s in samples]
        return self.func(prompts=prompts, completions=completions, **self._columns(samples))

    def _checked_call(self, samples: list[Sample], conversational: bool, offset: int = 0) -> list[Any]:
        values = call_with_timeout(self._call, self.timeout_s, samples, conversational)
        try:
            values = list(values)
        except TypeError:
            raise RewardlabError(
                f"reward {self.name!r} returned a {type(values).__name__}, not a list of floats "
                f"(one per sample)"
            ) from None
        if len(values) != len(samples):
            where = f" (sample {offset})" if len(samples) == 1 else ""
            raise RewardlabError(
                f"reward {self.name!r} returned {len(values)} values for a batch of {len(samples)} "
                f"samples{where}; a TRL reward function must return exactly one value per completion"
            )
        return values

    def _detected(self, samples: list[Sample]) -> bool:
        if self.format is not None:
            return self.format == "conversational"
        if self.expects is not None:
            return self.expects
        return bool(samples) and all(is_conversational_prompt(s.prompt) for s in samples)

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        conversational = self._detected(samples)
        try:
            values: list[Any] = self._checked_call(samples, conversational)
        except RewardlabError:
            raise
        except CallTimedOut as e:
            return self.assemble(samples, [self.timed_out(i, s, e) for i, s in enumerate(samples)])
        except Exception:
            values = self._retry(samples, conversational)
        scored: list[Scored] = []
        for i, (s, v) in enumerate(zip(samples, values)):
            if isinstance(v, Scored):
                scored.append(v)
            elif v is None:
                scored.append(Scored(self.none_value, note="not applicable (None)", not_applicable=True))
            else:
                checked = self.check_value(i, s, v)
                scored.append(checked if isinstance(checked, Scored) else Scored(checked))
        return self.assemble(samples, scored)

    def _retry(self, samples: list[Sample], conversational: bool) -> list[Any]:
        """After the batch call raised: one sample at a time, to name the samples that break it.
        Only when *every* sample fails is the other completion format tried (a format mismatch
        fails them all; a function that fails on some samples keeps the format the prompts say)."""
        failed: list[tuple[int, Sample, Exception]] = []
        values: list[Any] = []
        for i, s in enumerate(samples):
            try:
                values.extend(self._checked_call([s], conversational, offset=i))
            except RewardlabError:
                raise
            except CallTimedOut as e:
                values.append(self.timed_out(i, s, e))
            except Exception as e:
                failed.append((i, s, e))
                values.append(None)  # replaced below
        every = bool(samples) and len(failed) == len(samples)
        # What a format mismatch raises ("string indices must be integers", str has no .get ...).
        shape = all(isinstance(e, TypeError | KeyError | IndexError | AttributeError) for _, _, e in failed)
        tried = FORMATS[conversational]
        if every and shape and self.format is None:
            tried += f" and as {FORMATS[not conversational]}"
            with contextlib.suppress(Exception):
                other = self._checked_call(samples, not conversational)
                self.format = FORMATS[not conversational]
                return other
        for i, s, e in failed:
            hint = None
            if every and len(samples) > 1:
                prompts = FORMATS[all(is_conversational_prompt(x.prompt) for x in samples)]
                hint = (
                    f"It failed on every sample of the batch, with the completions passed as {tried} "
                    f"(the prompts are {prompts}), so the function and the data do not fit: check which "
                    "columns and completion format the function expects (conversational=True/False forces "
                    "a format; each key of a Sample's info becomes a column)."
                )
            values[i] = self.error(i, s, f"raised {type(e).__name__}: {e}", e, hint=hint)
        return values


def from_trl(func: Callable[..., Sequence[float | None]], **kwargs: Any) -> TRLReward:
    """Adapt a TRL reward function ``(prompts, completions, **columns) -> list[float | None]``
    unchanged; see :class:`TRLReward` for the calling convention, the completion format and
    ``None`` handling."""
    return TRLReward(func, **kwargs)
