"""``ask-grid``: fetch the object the user means, asking only when the instruction is ambiguous.

After Ask-to-Act (an MLLM trained with LLM-generated rewards for success, for relevant
clarification questions and penalties for irrelevant or redundant ones; no code was found, so
**every value here is ours**). A room holds several objects (kind, colour, place); the instruction
names a kind and sometimes a colour or place. Actions (``call`` format):

* ``ask("question")`` -- an oracle user who knows the target answers the attributes the question
  asks about (a question mentioning "colour" / "color" / "which" gets the colour, "where" / "place"
  gets the place);
* ``pick(i)`` -- hand over object i; the episode ends.

Per-turn rewards (ours): **+1** for picking the target, **0** for another object; **+0.2** for a
question whose answer removes candidates; **-0.2** for a question that removes none (irrelevant or
redundant, or any question when the instruction was already unambiguous); at most
``max_questions`` questions (more are refused with -0.2).
"""

from __future__ import annotations

import random
from typing import Any

from rewardlab.agents.actions import Action
from rewardlab.agents.env import StepResult, ToolEnv
from rewardlab.agents.tools import ToolError, tool
from rewardlab.errors import ConfigError
from rewardlab.tasks.base import Example

KINDS = ["mug", "book", "apple", "towel", "key"]
COLOURS = ["red", "blue", "green", "yellow"]
PLACES = ["table", "sink", "shelf", "sofa"]
QUESTION_REWARD = 0.2


class AskGridEnv(ToolEnv):
    name = "ask-grid"
    description = "Ask-to-Act (values ours): fetch the meant object; ask(question) only when it is ambiguous"
    summary = description
    action_format = "call"
    max_turns = 4

    def __init__(
        self, max_questions: int = 2, num_train: int = 1000, num_test: int = 100, test_seed: int = 1234
    ) -> None:
        super().__init__()
        if max_questions < 0:
            raise ConfigError(f"ask-grid: max_questions must be >= 0, got {max_questions}")
        self.max_questions, self.num_train, self.num_test, self.test_seed = (
            max_questions,
            num_train,
            num_test,
            test_seed,
        )
        self.objects: list[dict[str, str]] = []
        self.target = 0
        self.known: dict[str, str] = {}
        self.asked = 0
        self.pending_reward = 0.0
        self.done = self.success = False

    def problems(self, split: str, seed: int) -> list[Example]:
        rng = random.Random(self.test_seed if split == "test" else seed + 11)
        out = []
        for _ in range(self.num_test if split == "test" else self.num_train):
            kind = rng.choice(KINDS)
            same = [
                {"kind": kind, "colour": c, "place": p}
                for c, p in zip(rng.sample(COLOURS, 2), rng.sample(PLACES, 2))
            ]
            others = [
                {"kind": k, "colour": rng.choice(COLOURS), "place": rng.choice(PLACES)}
                for k in rng.sample([k for k in KINDS if k != kind], 2)
            ]
            objects = same + others
            rng.shuffle(objects)
            target = objects.index(same[0])
            hint = rng.choice(["", "colour", "place"])  # "" = ambiguous instruction
            out.append(
                Example(
                    prompt=None,
                    reference=str(target),
                    info={"objects": objects, "target": target, "hint": hint},
                )
            )
        return out

    def default_reward(self) -> Any:
        from rewardlab.agents.rewards import EnvReturn

        return EnvReturn(maximum=1.0 + QUESTION_REWARD, minimum=-QUESTION_REWARD * 4)

    def candidates(self) -> list[int]:
        t = self.objects[self.target]
        return [
            i
            for i, o in enumerate(self.objects)
            if o["kind"] == t["kind"] and all(o[k] == v for k, v in self.known.items())
        ]

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        if task is None:
            raise ConfigError("ask-grid: reset needs task= (one of env.problems(split, seed))")
        self.objects, self.target = [dict(o) for o in task.info["objects"]], int(task.info["target"])
        t, hint = self.objects[self.target], task.info["hint"]
        self.known = {hint: t[hint]} if hint else {}
        self.asked, self.done, self.success, self.pending_reward = 0, False, False, 0.0
        detail = {"colour": f"{t['colour']} ", "place": ""}.get(hint, "")
        where = f" on the {t['place']}" if hint == "place" else ""
        room = "\n".join(
            f"{i}: a {o['colour']} {o['kind']} on the {o['place']}" for i, o in enumerate(self.objects)
        )
        prompt = (
            f"Please bring me the {detail}{t['kind']}{where}.\nThe room:\n{room}\n{self.instructions()}\n"
            "Hand over an object with pick(i)."
        )
        return [{"role": "user", "content": prompt}], {"ambiguous": len(self.candidates()) > 1}

    @tool
    def ask(self, question: str) -> str:
        """Ask the user a clarification question.

        Args:
            question: the question
        """
        if self.asked >= self.max_questions:
            self.pending_reward -= QUESTION_REWARD
            raise ToolError("no more questions; pick an object")
        self.asked += 1
        q, t = question.lower(), self.objects[self.target]
        before = len(self.candidates())
        told = []
        if any(w in q for w in ("colour", "color", "which")):
            self.known["colour"] = t["colour"]
            told.append(f"the {t['colour']} one")
        if any(w in q for w in ("where", "place")):
            self.known["place"] = t["place"]
            told.append(f"the one on the {t['place']}")
        self.pending_reward += QUESTION_REWARD if len(self.candidates()) < before else -QUESTION_REWARD
        return "I mean " + " and ".join(told) + "." if told else "I'm not sure what you are asking."

    @tool
    def pick(self, index: int) -> str:
        """Hand over an object.

        Args:
            index: the object's number
        """
        if not 0 <= index < len(self.objects):
            raise ToolError(f"there is no object {index}; objects are 0..{len(self.objects) - 1}")
        self.done, self.success = True, index == self.target
        self.pending_reward += 1.0 if self.success else 0.0
        return "Thank you." if index == self.target else "That's not what I meant."

    def on_tool_results(self, action: Action, results: list) -> tuple[float, bool]:
        reward, self.pending_reward = self.pending_reward, 0.0
        return reward, self.done

    def on_answer(self, action: Action) -> StepResult:
        return StepResult([], 0.0, True, False, {"success": False})  # talked instead of picking

    def step(self, action: Action) -> StepResult:
        out = super().step(action)
        if self.done:
            out.info["success"] = self.success
        return out

    def oracle(self, messages: list[dict], info: dict) -> str:
        if len(self.candidates()) > 1:
            return 'ask("Which colour do you mean?")'
        return f"pick({self.target})"
