"""``frame-select``: FrameThinker's video tools on a synthetic "video" of frame captions.

A video is N frames at 1 frame per second, each a caption; one short event (a window of frames)
holds the answer. The agent sees 8 frames sampled over the whole video, then acts, each turn as
``<think>...</think><action>...</action>`` with one of FrameThinker's actions:

* ``choose frames between a and b`` -- the captions of 8 frames sampled evenly in [a, b];
* ``get frame number at time mm:ss`` -- the frame index shown at that time;
* ``output answer: X`` -- ends the episode.

Reward: FrameThinker's rule chain (``think_with_video_reward.py``, lcqysl/FrameThinker-RL, as read
in ``docs/agents.md``), all or nothing: any format violation scores 0 --
equal numbers of ``<think>`` and ``<action>``; the last action is ``output answer: X``; every
earlier action is a frame choice with b - a > 8, not the initial full range (0, N-1), not an
earlier (a, b) or (a+1, b-1), whose think ends with the numbers a and b; or a time query with no
repeated timestamp whose returned frame lies in the next frame choice. Then acc = 1 when the answer
is right, and if so +0.5 when a time query returned a frame > 0 for a question with a timestamp,
+0.02 when a frame choice was used: totals in {0, 1, 1.02, 1.5, 1.52}.
"""

from __future__ import annotations

import random
import re
from typing import Any

from rewardlab.agents.actions import Action
from rewardlab.agents.env import ChatEnv, StepResult
from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Reward
from rewardlab.tasks.base import Example

FILLER = ["an empty street", "trees moving in the wind", "a parked bicycle", "clouds over the roofs"]
EVENTS = [
    ("car", "color", ["red", "blue", "green", "white"]),
    ("dog", "breed", ["poodle", "beagle", "husky"]),
    ("bird", "color", ["black", "yellow", "grey"]),
]
_CHOOSE = re.compile(r"^choose frames between (\d+) and (\d+)$")
_TIME = re.compile(r"^get frame number at time (\d{1,2}):(\d{2})$")
_ANSWER = re.compile(r"^output answer:\s*(.+)$", re.DOTALL)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ACTION = re.compile(r"<action>(.*?)</action>", re.DOTALL)


def sample_frames(a: int, b: int, k: int = 8) -> list[int]:
    if b <= a:
        return [a]
    return sorted({a + round(i * (b - a) / (k - 1)) for i in range(k)})


def frame_thinker_score(turns: list[str], gold: str, timed_question: bool, n_frames: int) -> float:
    """FrameThinker's all-or-nothing reward on the assistant turns of an episode."""
    thinks, actions = [], []
    for text in turns:
        t, a = _THINK.findall(text), _ACTION.findall(text)
        if len(t) != len(a):
            return 0.0
        thinks += t
        actions += [x.strip() for x in a]
    if not actions:
        return 0.0
    final = _ANSWER.match(actions[-1])
    if final is None:
        return 0.0
    ranges: list[tuple[int, int]] = []
    times: set[str] = set()
    pending: int | None = None  # a frame a time query returned, which the next choice must contain
    time_frame_positive = used_choice = False
    for think, act in zip(thinks[:-1], actions[:-1]):
        if m := _CHOOSE.match(act):
            a, b = int(m.group(1)), int(m.group(2))
            numbers = re.findall(r"\d+", think)
            if b - a <= 8 or (a, b) == (0, n_frames - 1) or (a, b) in ranges or (a + 1, b - 1) in ranges:
                return 0.0
            if [int(x) for x in numbers[-2:]] != [a, b]:
                return 0.0
            if pending is not None and not a <= pending <= b:
                return 0.0
            ranges.append((a, b))
            pending, used_choice = None, True
        elif m := _TIME.match(act):
            stamp = f"{int(m.group(1)):02d}:{m.group(2)}"
            if stamp in times:
                return 0.0
            times.add(stamp)
            pending = int(m.group(1)) * 60 + int(m.group(2))
            time_frame_positive = time_frame_positive or 0 < pending < n_frames
        else:
            return 0.0
    if final.group(1).strip().lower() != gold.lower():
        return 0.0
    return 1.0 + (0.5 if time_frame_positive and timed_question else 0.0) + (0.02 if used_choice else 0.0)


class FrameThinkerReward(Reward):
    name = "frame_thinker"
    maximum = 1.52

    def compute(self, sample: Any) -> float:
        turns = [m["content"] for m in sample.info["messages"] if m["role"] == "assistant"]
        env = sample.info["env_info"]
        return frame_thinker_score(turns, str(sample.reference), env["timed"], env["frames"])


class FrameSelectEnv(ChatEnv):
    name = "frame-select"
    description = (
        "FrameThinker: caption 'video', choose-frames / time-to-frame tools, all-or-nothing rule chain"
    )
    summary = description
    action_format = "hermes"  # the env reads <think>/<action> itself
    max_turns = 5

    def __init__(
        self, frames: int = 120, num_train: int = 1000, num_test: int = 100, test_seed: int = 1234
    ) -> None:
        if frames < 30:
            raise ConfigError(f"frame-select: frames must be >= 30, got {frames}")
        self.frames, self.num_train, self.num_test, self.test_seed = frames, num_train, num_test, test_seed
        self.video: dict[str, Any] = {}

    def problems(self, split: str, seed: int) -> list[Example]:
        rng = random.Random(self.test_seed if split == "test" else seed + 7)
        out = []
        for _ in range(self.num_test if split == "test" else self.num_train):
            thing, attr, values = rng.choice(EVENTS)
            value = rng.choice(values)
            start = rng.randrange(10, self.frames - 12)
            timed = rng.random() < 0.5
            if timed:
                t = start + 2
                question = f"At {t // 60:02d}:{t % 60:02d}, what is the {attr} of the {thing}?"
            else:
                question = f"What is the {attr} of the {thing} in the video?"
            info = {
                "thing": thing,
                "value": value,
                "start": start,
                "timed": timed,
                "question": question,
                "filler": rng.randrange(1000),
            }
            out.append(Example(prompt=None, reference=value, info=info))
        return out

    def default_reward(self) -> Reward:
        return FrameThinkerReward()

    def caption(self, i: int) -> str:
        v = self.video
        if v["start"] <= i < v["start"] + 6:
            return f"a {v['value']} {v['thing']} in view"
        return FILLER[(i * 7 + v["filler"]) % len(FILLER)]

    def _frames_text(self, a: int, b: int) -> str:
        return "\n".join(f"frame {i}: {self.caption(i)}" for i in sample_frames(a, b))

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        if task is None:
            raise ConfigError("frame-select: reset needs task= (one of env.problems(split, seed))")
        self.video = dict(task.info)
        n = self.frames
        prompt = (
            f"A video has {n} frames (1 frame per second, frames 0 to {n - 1}). Question: {self.video['question']}\n"
            f"Sampled frames:\n{self._frames_text(0, n - 1)}\nEach turn write <think>...</think> then one "
            "<action>...</action>: 'choose frames between a and b' (end your think with a and b), "
            "'get frame number at time mm:ss', or 'output answer: X'."
        )
        return [{"role": "user", "content": prompt}], {"timed": self.video["timed"], "frames": n}

    def step(self, action: Action) -> StepResult:
        info = {"timed": self.video["timed"], "frames": self.frames}
        acts = _ACTION.findall(action.text)
        if not acts:
            return StepResult([], 0.0, True, False, {**info, "success": False, "malformed": 1, "errors": 1})
        act = acts[-1].strip()
        if m := _ANSWER.match(act):
            return StepResult(
                [], 0.0, True, False, {**info, "success": m.group(1).strip().lower() == self.video["value"]}
            )
        if m := _CHOOSE.match(act):
            a, b = max(0, int(m.group(1))), min(self.frames - 1, int(m.group(2)))
            return StepResult(
                [{"role": "tool", "content": self._frames_text(a, b)}],
                0.0,
                False,
                False,
                {**info, "calls": 1, "errors": 0},
            )
        if m := _TIME.match(act):
            frame = int(m.group(1)) * 60 + int(m.group(2))
            ok = 0 <= frame < self.frames
            text = f"frame {frame}" if ok else f"no frame at that time (the video has {self.frames} frames)"
            return StepResult(
                [{"role": "tool", "content": text}],
                0.0,
                False,
                False,
                {**info, "calls": 1, "errors": int(not ok)},
            )
        return StepResult(
            [{"role": "tool", "content": "Error: unknown action."}],
            0.0,
            False,
            False,
            {**info, "malformed": 1, "errors": 1},
        )

    def oracle(self, messages: list[dict], info: dict) -> str:
        v = self.video
        asked = [m["content"] for m in messages if m["role"] == "assistant"]
        if v["timed"] and not asked:
            t = v["start"] + 2
            return f"<think>The question names a time.</think><action>get frame number at time {t // 60:02d}:{t % 60:02d}</action>"
        if not any("choose frames" in a for a in asked):
            a, b = v["start"] - 2, v["start"] + 8
            return (
                f"<think>The event is near {a} {b}</think><action>choose frames between {a} and {b}</action>"
            )
        return f"<think>I saw it.</think><action>output answer: {v['value']}</action>"
