"""``lookup``: the smallest real agent task -- look a key up with a tool, then answer its value.

Each problem has its own random table (digit keys -> digit values, a permutation drawn from the
problem's seed), so the value cannot be memorised or guessed from the key: the agent has to call
the tool and copy what it returned. Two turns: ``lookup(key)``, then the answer.

Two protocols (ours):

* ``call`` (default, for instruct models): ``lookup("3")`` then ``answer("7")`` (``call`` format);
* ``positional`` (for the CI test's tiny random character-level Llama, which cannot find a
  ten-character call by chance): the first turn's text *is* the key, the second turn's text the
  answer. The prompt is ``k<key>``, the tool result ``v<value>``.

Reward: ``math_equiv`` of the final answer against the value (1 / 0); ``lookup_bonus`` (ours,
default 0) adds a per-turn reward for looking up the asked key (through ``EnvReturn``).
"""

from __future__ import annotations

import random
from typing import Any

from rewardlab.agents.actions import Action
from rewardlab.agents.env import StepResult, ToolEnv
from rewardlab.agents.rewards import EnvReturn
from rewardlab.agents.tools import ToolError, tool
from rewardlab.errors import ConfigError
from rewardlab.tasks.base import Example

PROTOCOLS = ("call", "positional")
DIGITS = "0123456789"


class LookupEnv(ToolEnv):
    name = "lookup"
    description = "2 turns: lookup(key) on a per-problem random table, then answer the value"
    summary = description
    action_format = "call"
    max_turns = 2

    def __init__(
        self,
        protocol: str = "call",
        lookup_bonus: float = 0.0,
        num_train: int = 2000,
        num_test: int = 100,
        test_seed: int = 1234,
    ) -> None:
        super().__init__()
        if protocol not in PROTOCOLS:
            raise ConfigError(f"lookup: protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        self.protocol, self.lookup_bonus = protocol, float(lookup_bonus)
        self.num_train, self.num_test, self.test_seed = num_train, num_test, test_seed
        self.table: dict[str, str] = {}
        self.key = ""
        self.looked_up: str | None = None
        self.asked = False

    # ---- problems -----------------------------------------------------------------------------
    def problems(self, split: str, seed: int) -> list[Example]:
        # table seeds: test from test_seed's stream, train from seed's, never a test table
        test = random.Random(self.test_seed).sample(range(10**9), self.num_test)
        if split == "test":
            seeds = test
        else:
            used, rng, seeds = set(test), random.Random(seed), []
            while len(seeds) < self.num_train:
                s = rng.randrange(10**9)
                if s not in used:
                    used.add(s)
                    seeds.append(s)
        out = []
        for s in seeds:
            rng = random.Random(s)
            values = list(DIGITS)
            rng.shuffle(values)
            table = dict(zip(DIGITS, values))
            key = rng.choice(DIGITS)
            out.append(Example(prompt=None, reference=table[key], info={"table": table, "key": key}))
        return out

    def default_reward(self) -> Any:
        from rewardlab.rewards import WeightedSum, get

        correct = get("math_equiv")
        if self.lookup_bonus == 0:
            return correct
        return WeightedSum(
            [correct, EnvReturn(maximum=self.lookup_bonus, minimum=0.0)], [1.0, 1.0], name="lookup"
        )

    # ---- episode ------------------------------------------------------------------------------
    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        if task is None:
            raise ConfigError("lookup: reset needs task= (one of env.problems(split, seed))")
        self.table, self.key, self.looked_up = dict(task.info["table"]), task.info["key"], None
        self.asked = False
        if self.protocol == "positional":
            return [{"role": "user", "content": f"k{self.key}"}], {}
        prompt = (
            f"Find the value stored under key {self.key!r}. Look it up with the tool, then answer with it.\n"
            + self.instructions()
        )
        return [{"role": "user", "content": prompt}], {}

    @tool
    def lookup(self, key: str) -> str:
        """Return the value stored under a key.

        Args:
            key: the key to look up
        """
        key = str(key).strip()
        if key not in self.table:
            raise ToolError(f"no key {key[:20]!r}; keys are single digits")
        self.looked_up = key
        return self.table[key]

    def on_tool_results(self, action: Action, results: list) -> tuple[float, bool]:
        return (self.lookup_bonus if self.looked_up == self.key else 0.0), False

    def on_answer(self, action: Action) -> StepResult:
        answer = (action.answer if action.answer is not None else action.text).strip()
        return StepResult([], 0.0, True, False, {"success": answer == self.table[self.key]})

    def step(self, action: Action) -> StepResult:
        if self.protocol == "call":
            return super().step(action)
        # positional: turn 1 is the key, turn 2 the answer
        if not self.asked:
            self.asked = True
            key = action.text.strip()
            if key in self.table:
                self.looked_up = key
                reward = self.lookup_bonus if key == self.key else 0.0
                obs = [{"role": "tool", "content": f"v{self.table[key]}"}]
                return StepResult(obs, reward, False, False, {"calls": 1, "errors": 0})
            return StepResult(
                [{"role": "tool", "content": "v"}], 0.0, False, False, {"calls": 1, "errors": 1}
            )
        return self.on_answer(action)

    def oracle(self, messages: list[dict], info: dict) -> str:
        value = messages[-1]["content"] if messages[-1]["role"] == "tool" else None
        if self.protocol == "positional":
            return self.key if value is None else value[1:]
        return f'lookup("{self.key}")' if value is None else f'answer("{value}")'
