"""A user-written agent env: tools are plain methods with type hints and a docstring.

    python examples/agents/my_env.py        # runs the env's oracle through the real rollout

Train it with the Python API: ``GRPO(GRPOConfig(env="", ...), task=AgentTask(UnitsEnv), ...)``, or
register it by import path once the registry accepts ``"examples/agents/my_env.py:UnitsEnv"``.
"""

from rewardlab.agents.actions import Action
from rewardlab.agents.env import AgentTask, StepResult, ToolEnv
from rewardlab.agents.rollout import AgentConfig, AgentLoop, oracle_actor, scripted_policy
from rewardlab.agents.tools import ToolError, tool
from rewardlab.tasks.base import Example

FACTORS = {"km": 1000.0, "m": 1.0, "cm": 0.01, "mile": 1609.344}


class UnitsEnv(ToolEnv):
    name = "units"
    summary = "convert lengths with a convert(value, unit, to) tool"
    action_format = "hermes"
    max_turns = 3

    def problems(self, split, seed):
        pairs = [(3.0, "km", "m"), (250.0, "cm", "m"), (2.0, "mile", "km")]
        return [
            Example(prompt=None, reference=f"{v * FACTORS[a] / FACTORS[b]:g}", info={"q": (v, a, b)})
            for v, a, b in pairs
        ]

    def default_reward(self):
        from rewardlab.rewards import get

        return get("math_equiv")

    def reset(self, *, seed, task=None):
        self.q = task.info["q"]
        v, a, b = self.q
        return [{"role": "user", "content": f"How many {b} is {v:g} {a}?\n{self.instructions()}"}], {}

    @tool
    def convert(self, value: float, unit: str, to: str) -> str:
        """Convert a length between units.

        Args:
            value: the length
            unit: its unit (km, m, cm, mile)
            to: the unit wanted
        """
        if unit not in FACTORS or to not in FACTORS:
            raise ToolError(f"units are {', '.join(FACTORS)}")
        return f"{value * FACTORS[unit] / FACTORS[to]:g}"

    def on_answer(self, action: Action) -> StepResult:
        return StepResult([], 0.0, True, False, {})

    def oracle(self, messages, info):
        if messages[-1]["role"] != "tool":
            v, a, b = self.q
            return f'<tool_call>{{"name": "convert", "arguments": {{"value": {v}, "unit": "{a}", "to": "{b}"}}}}</tool_call>'
        return f"<answer>{messages[-1]['content']}</answer>"


if __name__ == "__main__":
    task = AgentTask(UnitsEnv)
    loop = AgentLoop(scripted_policy(), task, task.reward(), AgentConfig(), max_completion_length=500)
    result = loop.evaluate(split="test", actor=oracle_actor)
    print({k: v for k, v in result.items() if k != "samples"})
    print(result["samples"][0]["transcript"])
