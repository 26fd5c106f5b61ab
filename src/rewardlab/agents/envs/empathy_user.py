"""``empathy-user``: RLVER's simulated user, with a scripted rule in place of the LLM simulator.

RLVER (Tencent, read in ``docs/agents.md``): the user has a hidden profile and starts at emotion
**30**; after each agent turn the simulator's planning output gives a change that is added to
the emotion, **capped at 100**; buckets S >= 100, A >= 70, B >= 40, C >= 10, F < 10; the user says
goodbye at S or F, and the dialogue also ends at emotion <= 0 or after **8 turns**. Reward =
**max(emotion, 0) / 100** at the end of the dialogue.

The change rule is ours (RLVER's is an LLM judging the reply against the hidden profile): +10 for
each empathy cue the reply contains (at most two count), +10 when it names the user's hidden
worry, -10 for each dismissive phrase, -5 for a reply under 20 characters; with ``think = true``
the agent may reason in ``<think>...</think>`` first, which the user does not hear (RLVER's
think / no-think flag).
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

START, CAP = 30, 100
BUCKETS = (("S", 100), ("A", 70), ("B", 40), ("C", 10))
CUES = ("sorry", "understand", "that sounds", "i hear you", "must feel", "it makes sense")
DISMISSIVE = ("just ", "calm down", "get over", "you should", "not a big deal", "whatever")
PROFILES = [
    {
        "topic": "my job",
        "worry": "deadline",
        "opening": "My boss moved the deadline up again and I can't sleep.",
    },
    {
        "topic": "my exams",
        "worry": "fail",
        "opening": "I think I'm going to fail my exams and disappoint everyone.",
    },
    {
        "topic": "my sister",
        "worry": "argument",
        "opening": "I had an argument with my sister and now she won't talk to me.",
    },
    {
        "topic": "moving",
        "worry": "lonely",
        "opening": "I moved to a new city and I feel lonely all the time.",
    },
    {"topic": "my dog", "worry": "sick", "opening": "My dog is sick and the vet doesn't know what's wrong."},
    {"topic": "money", "worry": "rent", "opening": "I'm not sure I can pay the rent this month."},
]
REPLIES = {
    "A": ["Thanks, that actually helps a bit.", "Yeah... it's good to talk about it."],
    "B": ["I guess. It's still hard.", "Maybe. I keep thinking about it."],
    "C": ["I don't know. Nobody gets it.", "It's all just too much right now."],
}


def bucket(emotion: float) -> str:
    for name, low in BUCKETS:
        if emotion >= low:
            return name
    return "F"


def emotion_change(reply: str, worry: str) -> int:
    """The scripted simulator's change for one agent reply (ours; see the module docstring)."""
    text = reply.lower()
    delta = 10 * min(2, sum(cue in text for cue in CUES))
    delta += 10 if worry in text else 0
    delta -= 10 * sum(phrase in text for phrase in DISMISSIVE)
    if len(text.strip()) < 20:
        delta -= 5
    return delta


class FinalEmotion(Reward):
    """RLVER's reward: max(final emotion, 0) / 100 (``info["env_info"]["emotion"]``)."""

    name = "final_emotion"

    def compute(self, sample: Any) -> float:
        return max(float(sample.info["env_info"]["emotion"]), 0.0) / 100.0


class EmpathyUserEnv(ChatEnv):
    name = "empathy-user"
    description = "RLVER simulated user: hidden worry, emotion from 30, goodbye at S/F, reward emotion/100"
    summary = description
    action_format = "hermes"  # only the answer text matters; tags are ignored
    max_turns = 8

    def __init__(
        self, think: bool = False, num_train: int = 600, num_test: int = 60, test_seed: int = 1234
    ) -> None:
        if num_train < 1 or num_test < 1:
            raise ConfigError(
                f"empathy-user: num_train and num_test must be >= 1, got {num_train}, {num_test}"
            )
        self.think, self.num_train, self.num_test, self.test_seed = (
            bool(think),
            num_train,
            num_test,
            test_seed,
        )
        self.emotion = START
        self.profile: dict[str, str] = {}
        self.turn = 0
        self.rng = random.Random(0)

    def problems(self, split: str, seed: int) -> list[Example]:
        rng = random.Random(self.test_seed if split == "test" else seed + 1)
        n = self.num_test if split == "test" else self.num_train
        return [
            Example(prompt=None, reference=None, info={"profile": rng.randrange(len(PROFILES))})
            for _ in range(n)
        ]

    def default_reward(self) -> Reward:
        return FinalEmotion()

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        if task is None:
            raise ConfigError("empathy-user: reset needs task= (one of env.problems(split, seed))")
        self.profile = PROFILES[int(task.info["profile"])]
        self.emotion, self.turn, self.rng = START, 0, random.Random(seed)
        system = "You are a supportive listener. Reply to the user with warmth; do not lecture."
        if self.think:
            system += " First think inside <think>...</think>; the user only hears what follows."
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": self.profile["opening"]},
        ]
        return messages, {"emotion": self.emotion, "bucket": bucket(self.emotion)}

    def step(self, action: Action) -> StepResult:
        heard = re.sub(r"<think>.*?</think>", "", action.text, flags=re.DOTALL) if self.think else action.text
        self.turn += 1
        self.emotion = min(self.emotion + emotion_change(heard, self.profile["worry"]), CAP)
        b = bucket(self.emotion)
        info = {"emotion": self.emotion, "bucket": b, "success": self.emotion >= CAP}
        if b in ("S", "F") or self.emotion <= 0:
            return StepResult([{"role": "user", "content": "Goodbye."}], 0.0, True, False, info)
        if self.turn >= self.max_turns:
            return StepResult([], 0.0, False, True, info)
        return StepResult([{"role": "user", "content": self.rng.choice(REPLIES[b])}], 0.0, False, False, info)

    def oracle(self, messages: list[dict], info: dict) -> str:
        worry = self.profile["worry"]
        prefix = "<think>Acknowledge the feeling and the worry.</think>" if self.think else ""
        return (
            f"{prefix}I'm so sorry, I understand. The {worry} sounds heavy; it makes sense to feel this way."
        )
