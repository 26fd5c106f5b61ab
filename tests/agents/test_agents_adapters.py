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


# ---- OpenEnv: an Environment written against OpenEnv's types (pydantic, extra="forbid") ----------

try:
    from pydantic import BaseModel, ConfigDict
except ImportError:  # pragma: no cover - pydantic comes with the llm extra's dependencies
    BaseModel = None


if BaseModel is not None:

    class _Action(BaseModel):
        model_config = ConfigDict(extra="forbid")
        metadata: dict = {}

    class _Observation(BaseModel):
        model_config = ConfigDict(extra="forbid")
        done: bool = False
        reward: bool | int | float | None = None
        metadata: dict = {}

    class MoveAction(_Action):
        steps: int

    class CorridorObservation(_Observation):
        text: str

    class Corridor:
        """OpenEnv's Environment shape: reset(seed, episode_id, **kw) / step(action) -> Observation."""

        def reset(self, seed=None, episode_id=None, length=3, **kw):
            self.pos, self.length, self.episode_id = 0, length, episode_id
            return CorridorObservation(text=f"You are at 0; the exit is at {length}.")

        def step(self, action, timeout_s=None, **kw):
            self.pos += action.steps
            if self.pos == self.length:
                return CorridorObservation(
                    text="out", done=True, reward=True, metadata={"episode": self.episode_id}
                )
            return CorridorObservation(text=f"You are at {self.pos}.", reward=-0.1)

        def close(self):
            self.closed = True


def test_an_openenv_environment_runs_unchanged():
    import pytest

    if BaseModel is None:
        pytest.skip("pydantic is not installed")
    from rewardlab.agents.adapters import OpenEnvEnvironment
    from rewardlab.errors import ConfigError

    def to_action(text):
        return MoveAction(steps=int(text)) if text.strip().lstrip("-").isdigit() else None

    task = AgentTask(OpenEnvEnvironment, make=Corridor, to_action=to_action, tasks=[{"length": 4}])
    ep, reward = run(task, ["1", "walk", "2", "1"])
    assert ep.messages[0]["content"] == "You are at 0; the exit is at 4."  # reset kwargs came from the task
    assert ep.turn_rewards == [-0.1, 0.0, -0.1, 1.0]  # OpenEnv's bool reward True is 1.0
    assert reward == pytest.approx(0.8) and ep.terminated and ep.info["success"]
    assert ep.counts["malformed"] == 1 and ep.info["episode"].startswith("Corridor-")
    with pytest.raises(ConfigError, match="needs make=.*to_action="):
        OpenEnvEnvironment(make=Corridor)


def _openenv_echo_env(tmp_path):
    """The echo env ``openenv init`` writes, rendered by openenv-core's own template code (its
    ``uv lock`` step, which needs the network, is the only part of ``init`` not run)."""
    import importlib
    import sys

    import pytest

    init = pytest.importorskip(
        "openenv.cli.commands.init", reason="openenv-core is not installed (the `openenv` extra)"
    )
    init._copy_template_directory(
        "openenv.cli.templates.openenv_env",
        "",
        tmp_path / "echo",
        init._create_template_replacements("echo"),
        "echo",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        env_mod = importlib.import_module("echo.server.echo_environment")
        models = importlib.import_module("echo.models")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "echo" or m.startswith("echo.")]:
            del sys.modules[name]
    return env_mod.EchoEnvironment, models.EchoAction


def test_the_openenv_packages_own_echo_env_runs_unchanged(tmp_path):
    import pytest
    from openenv.core.env_server.interfaces import Environment

    from rewardlab.agents.adapters import OpenEnvEnvironment
    from rewardlab.errors import ConfigError

    EchoEnvironment, EchoAction = _openenv_echo_env(tmp_path)
    assert issubclass(EchoEnvironment, Environment)  # the package's abstract Environment, not a look-alike

    def to_action(text):
        return EchoAction(message=text.strip()) if text.strip() else None

    task = AgentTask(
        OpenEnvEnvironment,
        make=EchoEnvironment,
        to_action=to_action,
        obs_to_text=lambda obs: obs.echoed_message,
        max_turns=3,
    )
    ep, reward = run(task, ["hello", "   ", "abc"])
    # reset(self) takes neither seed nor episode_id: the adapter passes them only where accepted
    assert ep.messages[0]["content"] == "Echo environment ready!"
    assert ep.turn_rewards == pytest.approx([0.5, 0.0, 0.3])  # the echo env pays 0.1 per character
    assert ep.counts["malformed"] == 1 and ep.truncated and not ep.terminated  # echo never says done
    echoed = [m["content"] for m in ep.messages if m["role"] == "user"][1:]
    assert echoed == ["hello", "Unreadable action; try again.", "abc"]
    assert ep.info["original_message"] == "abc" and ep.info["step"] == 2  # metadata is the step info
    assert reward == pytest.approx(0.8)

    bad = AgentTask(OpenEnvEnvironment, make=EchoEnvironment, to_action=to_action, tasks=[{"length": 4}])
    with pytest.raises(ConfigError, match=r"EchoEnvironment.reset does not take length"):
        run(bad, ["hi"])
