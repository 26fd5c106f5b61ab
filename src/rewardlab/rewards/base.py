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

Per-sample functions become Rewards with :func:`reward`; TRL reward functions with
:func:`from_trl`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab.errors import ConfigError, RewardlabError

Messages = list[dict[str, Any]]
ON_ERROR = ("raise", "zero")


def _message_text(messages: Any) -> str:
    """Text of a chat completion: the concatenated ``content`` of its messages."""
    if isinstance(messages, dict):
        messages = [messages]
    parts = []
    for m in messages:
        content = m.get("content", "") if isinstance(m, dict) else m
        parts.append(content if isinstance(content, str) else str(content))
    return "".join(parts)


@dataclass
class Sample:
    """One scored item: what the policy saw, what it wrote, and the ground truth.

    ``prompt`` is a string or chat messages; ``completion`` the generated text (chat messages are
    joined into text); ``reference`` the ground truth in whatever form the reward expects;
    ``info`` any extra columns (image scale, difficulty, token count, ...); ``completion_ids``
    the generated token ids when the trainer has them (length-based rewards count tokens).
    ``parsed`` caches what parsers extracted from the completion, so several rewards on the same
    batch parse it once.
    """

    prompt: str | Messages = ""
    completion: str = ""
    reference: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    completion_ids: Sequence[int] | None = None
    parsed: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
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
    # Reward-specific counters (e.g. code_tests' "violations"): always reported as
    # ``<name>/<counter>``, summed from each Scored's ``counts``.
    counters: tuple[str, ...] = ()

    def __init__(self, *, name: str | None = None, on_error: str = "raise") -> None:
        if name is not None:
            if not isinstance(name, str) or not name:
                raise ConfigError(f"reward name must be a non-empty string, got {name!r}")
            self.name = name
        if on_error not in ON_ERROR:
            raise ConfigError(
                f"reward {self.name!r}: on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}"
            )
        self.on_error = on_error

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
        self, index: int, sample: Sample | None, what: str, cause: BaseException | None = None
    ) -> Scored:
        """A reward bug on sample ``index``: raise (default) or score 0 with a note."""
        where = f"sample {index}"
        if sample is not None:
            where += f" (completion {_preview(sample.completion)!r})"
        if self.on_error == "raise":
            msg = (
                f"reward {self.name!r} {what} on {where}. This is a problem with the reward or its "
                "inputs (reference, info), not with the model output; fix it, or construct the reward "
                "with on_error='zero' to score such samples 0 and count them."
            )
            raise RewardlabError(msg) from cause
        return Scored(0.0, {p: 0.0 for p in self.part_bounds()}, note=f"error: {what}", error=True)

    def malformed(self, reason: str) -> Scored:
        parts = {p: lo for p, (lo, _) in self.part_bounds().items()}
        return Scored(self.minimum, parts, note=reason, malformed=True)

    def score_one(self, index: int, sample: Sample) -> Scored:
        """:meth:`compute` with the failure rules applied and the value checked."""
        try:
            out = self.compute(sample)
        except Malformed as e:
            return self.malformed(str(e) or "malformed output")
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
        for key in dict.fromkeys([*self.counters, *(k for s in scored for k in s.counts)]):
            counts[f"{self.name}/{key}"] = sum(s.counts.get(key, 0) for s in scored)
        return RewardResult(self.name, total, components, bounds, notes, counts)


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
    ) -> None:
        super().__init__(name=name or getattr(func, "__name__", "reward"), on_error=on_error)
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
) -> Any:
    """Turn a per-sample function ``f(sample) -> float`` into a :class:`Reward`.

    Use as ``@reward`` or ``@reward(name="brevity", minimum=-1, maximum=0)``. The function may
    raise :class:`Malformed` for unscoreable model output (the sample scores ``minimum``); any
    other exception, a NaN or a non-number follows ``on_error``.
    """

    def wrap(f: Callable[[Sample], Any]) -> FunctionReward:
        return FunctionReward(f, name=name, minimum=minimum, maximum=maximum, on_error=on_error)

    return wrap(func) if func is not None else wrap


class TRLReward(Reward):
    """A TRL-style batch reward function ``f(prompts, completions, **columns) -> list[float | None]``.

    How it is called (the TRL ``GRPOTrainer`` convention): ``prompts`` and ``completions`` are
    lists; when the prompts are chat messages, each completion is passed as
    ``[{"role": "assistant", "content": text}]`` (``conversational=None`` detects this, like
    TRL). Each key of the samples' ``info`` dicts becomes a keyword argument holding one value per
    sample (None where a sample lacks it), the references are passed as ``reference_key``
    (default ``"solution"``, the column TRL's ``accuracy_reward`` reads) and token ids, when every
    sample has them, as ``completion_ids``.

    ``None`` means "not applicable to this sample". TRL turns it into NaN and leaves that
    function out of the sample's weighted sum (nansum). Here a Reward's values are always finite:
    None becomes ``none_value`` (default 0.0, which gives the same weighted sum as TRL's
    nansum), and it is counted under ``<name>/not_applicable`` and noted for the sample.

    A function that raises is called again one sample at a time to find the sample that breaks
    it, so the error names the sample index (with ``on_error="zero"`` only that sample scores 0).
    Returning the wrong number of values is always an error naming the reward.
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
    ) -> None:
        super().__init__(name=name or getattr(func, "__name__", "trl_reward"), on_error=on_error)
        self.func = func
        self.none_value = float(none_value)
        self.reference_key = reference_key
        self.conversational = conversational
        self.minimum, self.maximum = float(minimum), float(maximum)
        self.description = f"TRL reward function {getattr(func, '__name__', func)!r}"

    def _call(self, samples: list[Sample]) -> Sequence[Any]:
        conversational = self.conversational
        if conversational is None:
            conversational = bool(samples) and all(isinstance(s.prompt, list) for s in samples)
        prompts = [s.prompt for s in samples]
        if conversational:
            completions: list[Any] = [[{"role": "assistant", "content": s.completion}] for s in samples]
        else:
            completions = [s.completion for s in samples]
        columns: dict[str, list[Any]] = {}
        for key in dict.fromkeys(k for s in samples for k in s.info):
            columns[key] = [s.info.get(key) for s in samples]
        columns[self.reference_key] = [s.reference for s in samples]
        if samples and all(s.completion_ids is not None for s in samples):
            columns["completion_ids"] = [list(s.completion_ids) for s in samples]
        return self.func(prompts=prompts, completions=completions, **columns)

    def _checked_call(self, samples: list[Sample], offset: int = 0) -> list[Any]:
        values = self._call(samples)
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

    def score(self, samples: Sequence[Sample]) -> RewardResult:
        samples = as_samples(samples)
        try:
            values = self._checked_call(samples)
        except RewardlabError:
            raise
        except Exception:
            # Find the sample(s) that break the function, so the error names an index.
            values = []
            for i, s in enumerate(samples):
                try:
                    values.extend(self._checked_call([s], offset=i))
                except RewardlabError:
                    raise
                except Exception as e:
                    values.append(self.error(i, s, f"raised {type(e).__name__}: {e}", e))
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


def from_trl(func: Callable[..., Sequence[float | None]], **kwargs: Any) -> TRLReward:
    """Adapt a TRL reward function ``(prompts, completions, **columns) -> list[float | None]``
    unchanged; see :class:`TRLReward` for the calling convention and ``None`` handling."""
    return TRLReward(func, **kwargs)
