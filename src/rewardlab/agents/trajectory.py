"""Token-exact episodes: sampled ids kept verbatim, environment messages appended as template deltas.

The training row of an episode is the token stream the model actually saw and wrote::

    [initial prompt] [turn 1 sampled] [boundary] [observation delta] [turn 2 sampled] ...
     (Batch.prompt)   mask 1 (logp)    mask 0      mask 0             mask 1

History is never re-tokenized: decoding and re-encoding a sampled turn may split it differently
(BPE is not unique; verl's docs report PPO that "not even converged" from re-applying the
template). The :class:`Renderer` renders only what comes after a sampled turn:

* the *boundary* the template puts after an assistant message (ChatML's ``<|im_end|>\\n``), minus
  the end-of-turn token when the model sampled it (then only ``\\n`` is inserted), all of it when
  the model was cut by length -- inserted tokens get mask 0 (verl's continuous-token builder,
  SkyRL's ``added_eos``);
* the *observation delta*: the template rendered on a fixed dummy conversation with and without
  the new messages, the difference taken (TRL's ``_get_tool_suffix_ids``, verl's
  ``render_delta_token_id``), generation prompt included.

Every append checks the invariants (TRL #5144 crashed on a mask longer than the ids): ids, loss
mask, log-probs and turn index have one length, and the mask-1 tokens are exactly the sampled
turns. :meth:`Renderer.drift` re-renders the finished conversation and counts the tokens where
it departs from the runtime stream (``tokens/drift_tokens``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rewardlab.errors import ConfigError, RewardlabError

_DUMMY_USER = "u"
_DUMMY_REPLY = "Zq9"  # content whose position in the rendered text is unambiguous


class Renderer:
    """Chat-template deltas for one tokenizer (a template-less tokenizer joins messages by lines,
    as :meth:`Policy.format_prompt` does, and ends assistant turns with EOS)."""

    def __init__(self, tokenizer: Any, *, system_prompt: str = "", use_chat_template: bool = True) -> None:
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.tools: list[dict] | None = None  # tool schemas the template renders (native format)
        self.templated = bool(getattr(tokenizer, "chat_template", None)) and use_chat_template
        self.eos_id = tokenizer.eos_token_id
        self.eos_text = tokenizer.eos_token or ""
        self._backend = getattr(tokenizer, "backend_tokenizer", None)
        if self.templated:
            self._tail_text = self._assistant_tail()
        else:
            self._tail_text = self.eos_text
        self.tail_ids = self.encode(self._tail_text)

    # ---- text ---------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        if self._backend is not None:  # the Rust tokenizer itself: same ids, without the wrapper's cost
            return self._backend.encode(text, add_special_tokens=False).ids
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        """The conversation as text, with the policy's system prompt rule (``Policy.format_prompt``)."""
        if not self.templated:
            text = ""
            for i, m in enumerate(messages):
                content = str(m.get("content", ""))
                if m.get("role") == "assistant":
                    text += content + self.eos_text
                else:
                    text += ("\n" if i else "") + content
            return text
        if self.system_prompt and not any(m.get("role") == "system" for m in messages):
            messages = [{"role": "system", "content": self.system_prompt}, *messages]
        extra = {"tools": self.tools} if self.tools else {}
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=add_generation_prompt, tokenize=False, **extra
        )

    def _assistant_tail(self) -> str:
        base = [{"role": "user", "content": _DUMMY_USER}]
        opened = self.render(base, True)
        closed = self.render([*base, {"role": "assistant", "content": _DUMMY_REPLY}], False)
        if not closed.startswith(opened + _DUMMY_REPLY):
            raise ConfigError(
                "the tokenizer's chat template is not append-only (an assistant reply does not extend the "
                "generation prompt), so multi-turn token deltas cannot be taken; use a ChatML-style template "
                "or use_chat_template = false"
            )
        return closed[len(opened) + len(_DUMMY_REPLY) :]

    # ---- deltas -------------------------------------------------------------------------------
    def boundary(self, ended_with_eos: bool) -> list[int]:
        """Tokens to insert after a sampled turn (mask 0): the template's end of an assistant message,
        without the end-of-turn token when the model sampled it."""
        tail = list(self.tail_ids)
        if ended_with_eos and tail and tail[0] == self.eos_id:
            return tail[1:]
        return tail

    def observation(self, messages: list[dict[str, Any]]) -> list[int]:
        """Tokens of ``messages`` appended after an assistant turn, up to the next generation prompt."""
        if not messages:
            return []
        if not self.templated:
            return self.encode("".join("\n" + str(m.get("content", "")) for m in messages))
        base = [{"role": "user", "content": _DUMMY_USER}, {"role": "assistant", "content": _DUMMY_REPLY}]
        before = self.render(base, False)
        after = self.render([*base, *messages], True)
        if not after.startswith(before):
            raise RewardlabError(
                "the chat template rewrote earlier messages when new ones were appended; multi-turn token "
                "deltas need an append-only template"
            )
        return self.encode(after[len(before) :])

    def drift(self, runtime_ids: list[int], messages: list[dict[str, Any]]) -> int:
        """Tokens of the runtime stream (prompt + episode) not reproduced by re-rendering ``messages``:
        its length minus the common prefix with the re-rendered ids (0 = no drift)."""
        rendered = self.encode(self.render(messages, False))
        n = 0
        for a, b in zip(runtime_ids, rendered):
            if a != b:
                break
            n += 1
        return len(runtime_ids) - n


@dataclass
class Turn:
    """One assistant turn and what the env did with it."""

    sampled_ids: list[int]
    sampled_logprobs: list[float]
    text: str  # decoded turn (special tokens skipped): what parsers and rewards read
    stop: str  # "eos" or "length"
    action: Any = None
    reward: float = 0.0
    observation: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    start: int = 0  # where the turn's sampled tokens begin in the episode's trajectory
    expert: str | None = None  # the expert's (or corrector's) turn at this state, for thought cloning


class Trajectory:
    """The token stream after the prompt, with loss mask, log-probs and turn index per token."""

    def __init__(self, prompt_ids: list[int]) -> None:
        self.prompt_ids = list(prompt_ids)
        self.ids: list[int] = []
        self.loss_mask: list[int] = []
        self.logprobs: list[float] = []
        self.turn_index: list[int] = []
        self.sampled_ids: list[int] = []  # concatenation of every sampled turn, for the invariant

    def __len__(self) -> int:
        return len(self.ids)

    def append_sampled(self, ids: list[int], logprobs: list[float], turn: int) -> None:
        if len(ids) != len(logprobs):
            raise RewardlabError(f"turn {turn}: {len(ids)} sampled ids but {len(logprobs)} log-probs")
        self.ids += ids
        self.loss_mask += [1] * len(ids)
        self.logprobs += [float(x) for x in logprobs]
        self.turn_index += [turn] * len(ids)
        self.sampled_ids += ids
        self.check()

    def append_context(self, ids: list[int], turn: int) -> None:
        """Tokens the model reads but did not write (boundaries, observations): mask 0, log-prob 0."""
        self.ids += ids
        self.loss_mask += [0] * len(ids)
        self.logprobs += [0.0] * len(ids)
        self.turn_index += [turn] * len(ids)
        self.check()

    def check(self) -> None:
        n = len(self.ids)
        if not (len(self.loss_mask) == len(self.logprobs) == len(self.turn_index) == n):
            raise RewardlabError(
                f"trajectory bookkeeping broke: {n} ids, {len(self.loss_mask)} mask, {len(self.logprobs)} "
                f"log-probs, {len(self.turn_index)} turn indices"
            )
        trained = [i for i, m in zip(self.ids, self.loss_mask) if m]
        if trained != self.sampled_ids:
            raise RewardlabError("trajectory bookkeeping broke: the mask-1 tokens are not the sampled turns")

    @property
    def env_tokens(self) -> int:
        return len(self.ids) - sum(self.loss_mask)


@dataclass
class Episode:
    """One episode: the task, its messages, turns, token stream, outcome."""

    example: Any
    seed: int
    group: int
    messages: list[dict[str, Any]]  # the human-readable view (initial + assistant + observations)
    trajectory: Trajectory
    prompt: Any = None  # what the initial prompt was encoded from (Example.prompt for tasks)
    turns: list[Turn] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    truncation: str = ""  # why: max_turns, max_episode_tokens, consecutive_errors
    info: dict[str, Any] = field(default_factory=dict)  # the env's last info
    counts: dict[str, int] = field(default_factory=dict)  # calls, malformed, errors, overflow, ...
    drift_tokens: int = 0
    initial: int = 0  # how many of ``messages`` came from reset
    plain_task: bool = False  # a single-turn task through TaskEnv (its Sample is today's Sample)
    state_keys: list[Any] = field(default_factory=list)  # anchor state before each turn (GiGPO)
    rows: list[Trajectory] = field(default_factory=list)  # closed rows (context = "rebuild" only)

    @property
    def all_rows(self) -> list[Trajectory]:
        """Every training row of the episode: the closed ones, then the current ``trajectory``."""
        return [*self.rows, self.trajectory]

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    @property
    def turn_rewards(self) -> list[float]:
        return [t.reward for t in self.turns]

    @property
    def final_text(self) -> str:
        return self.turns[-1].text if self.turns else ""

    def transcript(self) -> str:
        """The conversation after the prompt, one ``role: content`` block per message."""
        return "\n".join(f"{m['role']}: {m.get('content', '')}" for m in self.messages[self.initial :])

    def sample(self) -> Any:
        """The episode as a :class:`~rewardlab.rewards.Sample`: the final assistant text is the
        completion, so every single-turn reward scores the answer unchanged; the transcript,
        actions and per-turn rewards are in ``info`` for rewards that read the whole episode."""
        from rewardlab.rewards.base import Sample

        ex = self.example
        info = dict(getattr(ex, "info", {}) or {})
        if not self.plain_task:
            # a single-turn task's episode keeps its example's info unchanged (bit-identical rewards)
            info.update(
                messages=self.messages,
                actions=[t.action for t in self.turns],
                transcript=self.transcript(),
                turn_rewards=self.turn_rewards,
                turns=len(self.turns),
                tool_calls=self.counts.get("calls", 0),
                env_info=self.info,
                truncated=self.truncated,
            )
        return Sample(
            prompt=self.prompt if self.prompt is not None else self.messages[: self.initial],
            completion=self.final_text,
            reference=getattr(ex, "reference", None),
            info=info,
            completion_ids=[i for tr in self.all_rows for i in tr.sampled_ids],
        )


__all__ = ["Episode", "Renderer", "Trajectory", "Turn"]
