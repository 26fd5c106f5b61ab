"""Adapters: a Gymnasium env and a TRL environment_factory class run unchanged as agent envs."""

from rewardlab.agents.adapters import GymnasiumTextEnv, TRLEnvironment
from rewardlab.agents.env import AgentTask
from rewardlab.agents.rollout import AgentConfig, AgentLoop, scripted_policy


def scripted(texts):
    """An actor that writes ``texts`` in order (one episode)."""
    it = iter(texts)
    return lambda episodes, envs: [next(it) for _ in episodes]


def run(task, texts, **agent):
    loop = AgentLoop(scripted_policy(), task, task.reward(), AgentConfig(**agent), max_completion_length=2000)
    (ep,) = loop.run(task.examples("test")[:1], num_generations=1, seeds=[0], actor=scripted(texts))
    return ep, float(loop.reward([ep.sample()])[0])


def test_frozen_lake_through_the_gymnasium_adapter():
    import gymnasium as gym

    moves = {"left": 0, "down": 1, "right": 2, "up": 3}
    task = AgentTask(
        GymnasiumTextEnv,
        make=lambda: gym.make("FrozenLake-v1", is_slippery=False),
        obs_to_text=lambda obs: f"You are on cell {obs} of a 4x4 lake.",
        parse=lambda text: moves.get(text.strip().lower()),
        num_test=1,
    )
    ep, reward = run(task, ["down", "down", "jump", "right", "down", "right", "right"])
    assert reward == 1.0 and ep.terminated and ep.info["success"]
    assert len(ep.turns) == 7 and ep.counts["malformed"] == 1  # "jump" was unreadable: feedback, not an end
    assert ep.messages[ep.initial + 1]["content"] == "You are on cell 4 of a 4x4 lake."


class GuessTheNumber:
    """A TRL environment_factory class, written as TRL's docs show (reset(**row), tools, get_reward)."""

    def reset(self, secret: int, **row) -> str:
        self.secret, self.won = secret, False
        return " It is between 1 and 10."

    def guess(self, number: int) -> str:
        """Guess the secret number.

        Args:
            number: your guess
        """
        if self.won:
            raise ValueError("Game over.")
        if number == self.secret:
            self.won = True
            return "correct"
        return "higher" if number < self.secret else "lower"

    def get_reward(self) -> float:
        return 1.0 if self.won else 0.0


def test_a_trl_environment_factory_class_runs_unchanged():
    task = AgentTask(
        TRLEnvironment, factory=GuessTheNumber, rows=[{"prompt": "Guess my number.", "secret": 7}]
    )
    call = '<tool_call>{"name": "guess", "arguments": {"number": %d}}</tool_call>'
    ep, reward = run(task, [call % 5, call % 7, call % 7, "<answer>done</answer>"])
    assert ep.messages[0]["content"].startswith("Guess my number. It is between 1 and 10.")
    assert "guess(number: integer)" in ep.messages[0]["content"]  # the schema came from the method
    assert [m["content"] for m in ep.messages if m["role"] == "tool"] == [
        "higher",
        "correct",
        "Error: Game over.",
    ]
    assert reward == 1.0 and ep.counts == {"calls": 3, "malformed": 0, "errors": 1, "overflow": 0}
