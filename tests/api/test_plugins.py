"""User code by import path: what each form resolves to, and the message for each way it can fail."""

import json
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest

from rewardlab import registry
from rewardlab.core.algorithm import Algorithm
from rewardlab.errors import PluginError, UnknownNameError
from rewardlab.registry import UnrebuildableError
from rewardlab.rewards import registry as rewards
from rewardlab.rewards.base import FunctionReward, Sample, TRLReward


@pytest.fixture
def user_file(tmp_path, monkeypatch):
    """A user's module on disk, importable as a file and (from its directory) as a module."""
    path = tmp_path / "my_plugins.py"
    path.write_text(
        textwrap.dedent(
            """
            import gymnasium as gym
            import numpy as np
            from rewardlab.rewards.base import Reward, reward

            def has_seven(prompts, completions, **kwargs):
                return [1.0 if "7" in c else 0.0 for c in completions]

            def short(sample):
                return 1.0 if len(sample.completion) < 4 else 0.0

            @reward(name="decorated")
            def decorated(sample):
                return 0.5

            def two_args(a, b):
                return 0

            class Stay(gym.Env):
                observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
                action_space = gym.spaces.Discrete(2)
                def reset(self, *, seed=None, options=None):
                    super().reset(seed=seed)
                    return np.zeros(1, np.float32), {}
                def step(self, action):
                    return np.zeros(1, np.float32), float(action), False, False, {}

            NUMBER = 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield path
    for name in [n for n in sys.modules if "my_plugins" in n]:
        del sys.modules[name]


def test_import_path_forms_are_told_apart():
    assert registry.split_import_path("pkg.mod:attr") == ("pkg.mod", "attr", False)
    assert registry.split_import_path("dir/file.py:attr") == ("dir/file.py", "attr", True)
    assert registry.split_import_path("file.py:Cls.attr") == ("file.py", "Cls.attr", True)
    # Gymnasium's own "module:EnvId" form and plain names are not Python import paths
    assert registry.split_import_path("my_pkg:GridWorld-v0") is None
    assert registry.split_import_path("CartPole-v1") is None
    assert registry.split_import_path("ppo") is None


def test_rewards_by_path_are_wrapped_by_signature(user_file):
    samples = [Sample(prompt="p", completion="a7"), Sample(prompt="p", completion="longer")]
    trl = rewards.get(f"{user_file}:has_seven")
    assert isinstance(trl, TRLReward) and list(trl(samples)) == [1.0, 0.0]
    by_module = rewards.get("my_plugins:short")
    assert isinstance(by_module, FunctionReward) and list(by_module(samples)) == [1.0, 0.0]
    # parameters go to the wrapper
    assert rewards.get("my_plugins:short", name="brevity").name == "brevity"
    assert list(rewards.get("my_plugins:decorated")(samples)) == [0.5, 0.5]


def test_env_by_path_and_gymnasium_module_form(user_file):
    env = registry.make_env(f"{user_file}:Stay", max_episode_steps=3)
    env.reset(seed=0)
    steps = 0
    while True:
        steps += 1
        _, _, terminated, truncated, _ = env.step(1)
        if terminated or truncated:
            break
    assert steps == 3  # the time limit was added: the env has none of its own
    gym_form = registry.make_env("gymnasium.envs.classic_control:CartPole-v1")
    assert gym_form.spec.id == "CartPole-v1"
    # an unversioned id that the module registers, but does not define, is Gymnasium's form too
    user_file.with_name("registers_env.py").write_text(
        "import gymnasium as gym\n"
        "gym.register(id='StayPut', entry_point='my_plugins:Stay', max_episode_steps=2)\n"
    )
    registered = registry.make_env("registers_env:StayPut")
    assert registered.spec.id == "StayPut" and registered.spec.max_episode_steps == 2


def _message(excinfo) -> str:
    return " ".join(str(excinfo.value).split())


def test_module_not_found_names_the_path_searched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PluginError) as e:
        rewards.get("no_such_module_xyz:f")
    msg = _message(e)
    assert "reward 'no_such_module_xyz:f'" in msg and "no module named 'no_such_module_xyz'" in msg
    assert f"searched {sys.path[0] or tmp_path}" in msg and str(tmp_path) in msg


def test_missing_file_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PluginError) as e:
        registry.make_env("envs/grid.py:Grid")
    msg = _message(e)
    assert "the file 'envs/grid.py' does not exist" in msg and str(tmp_path / "envs" / "grid.py") in msg


def test_missing_attribute_lists_the_public_names(user_file):
    with pytest.raises(PluginError) as e:
        rewards.get("my_plugins:has_sevn")
    msg = _message(e)
    assert "module 'my_plugins' has no attribute 'has_sevn'" in msg and "Did you mean: has_seven?" in msg
    assert "Its public names: NUMBER, Stay, decorated, has_seven, short, two_args" in msg


def test_wrong_kind_of_object(user_file):
    with pytest.raises(PluginError) as e:
        rewards.get("my_plugins:NUMBER")
    assert "reward 'my_plugins:NUMBER' is a int (3)" in _message(e)
    assert "expected a rewardlab Reward" in _message(e)
    with pytest.raises(PluginError) as e:
        registry.make_env("my_plugins:has_seven")
    assert "cannot be called with env_kwargs" in _message(e) or "not a gymnasium.Env" in _message(e)
    with pytest.raises(PluginError) as e:
        registry.get_algorithm("my_plugins:Stay")
    assert "algorithm 'my_plugins:Stay' is the class my_plugins.Stay, not a subclass of" in _message(e)


def test_wrong_signature(user_file):
    with pytest.raises(PluginError) as e:
        rewards.get("my_plugins:two_args")
    msg = _message(e)
    assert "the function 'two_args' has the signature (a, b)" in msg
    assert "f(sample) -> float" in msg and "f(prompts, completions, **columns)" in msg


def test_unknown_names_still_suggest_and_mention_import_paths():
    with pytest.raises(UnknownNameError) as e:
        rewards.get("exact_mtch")
    assert "Did you mean: exact_match?" in _message(e) and "'package.module:f'" in _message(e)


def local_reward(sample):
    return 1.0


def test_objects_are_recorded_by_import_path_or_refused_by_name():
    # a top-level function of a test file: its absolute file path (the file's directory may not be on
    # sys.path in the next process)
    spec = registry.record(local_reward, "reward")
    assert spec == f"{__file__}:local_reward"
    assert registry.record(gym.envs.classic_control.CartPoleEnv, "env") == (
        "gymnasium.envs.classic_control.cartpole:CartPoleEnv"
    )
    lam = registry.record(lambda s: 0.0, "reward")
    assert lam.startswith("<object reward ") and "<lambda>" in lam
    with pytest.raises(UnrebuildableError) as e:
        registry.load_path(lam, "reward")
    assert "as a Python object with no import path" in _message(e) and "<lambda>" in _message(e)
    with registry.provided({lam: np.sum}):
        assert registry.load_path(lam) is np.sum


@pytest.mark.parametrize("guarded", [True, False])
def test_a_script_is_recorded_by_file_only_when_importing_it_runs_nothing(tmp_path, guarded):
    """An object defined in a script (``__main__``): importing the script again must not rerun it, so
    only a script that keeps its work under ``if __name__ == "__main__":`` is recorded by its path."""
    import subprocess

    body = "from rewardlab import registry\ndef f(sample):\n    return 1.0\n"
    work = "print(registry.record(f, 'reward'))\n"
    script = tmp_path / "script.py"
    script.write_text(body + ('if __name__ == "__main__":\n    ' + work if guarded else work))
    src = str(__import__("pathlib").Path(registry.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = f"{script}:f" if guarded else "<object reward __main__.f>"
    assert done.stdout.strip() == expected


def test_tasks_by_path_jsonl_file_and_prompt_dicts(user_file, tmp_path):
    from rewardlab import tasks
    from rewardlab.tasks.base import Task

    (tmp_path / "my_tasks.py").write_text(
        "from rewardlab.tasks.base import Example, Task\n"
        "class Echo(Task):\n"
        "    name = 'echo'\n"
        "    def build(self, split):\n"
        "        return [Example(prompt=f'{split} {self.seed}', reference='x')]\n"
        "    def default_reward(self):\n"
        "        return None\n"
        "NOT_A_TASK = {'prompt': 'p'}\n"
    )
    echo = tasks.make(f"{tmp_path / 'my_tasks.py'}:Echo", seed=3)
    assert isinstance(echo, Task) and echo.examples("test")[0].prompt == "test 3"
    with pytest.raises(PluginError, match="is a dict .*expected a rewardlab.tasks.base.Task subclass"):
        tasks.make(f"{tmp_path / 'my_tasks.py'}:NOT_A_TASK")
    data = tmp_path / "prompts.jsonl"
    data.write_text("\n".join(f'{{"prompt": "{i}=", "reference": "{i}"}}' for i in range(10)))
    from_file = tasks.make(str(data), test_fraction=0.2)
    from_dicts = tasks.from_records(
        [{"prompt": f"{i}=", "reference": str(i)} for i in range(10)], test_fraction=0.2
    )
    for split in ("train", "test"):
        assert [e.prompt for e in from_file.examples(split)] == [e.prompt for e in from_dicts.examples(split)]
    with pytest.raises(Exception, match="prompt records:2: line has no 'prompt'"):
        tasks.from_records([{"prompt": "a"}, {"question": "b"}]).examples("train")


def test_combinator_parts_and_reward_score_take_import_paths(user_file, tmp_path, capsys):
    from rewardlab.cli import main

    combined = rewards.build({"combine": "weighted_sum", "weights": [0.5, 0.5],
                              "parts": [{"reward": "my_plugins:short"}, {"reward": f"{user_file}:has_seven"}]})  # fmt: skip
    assert list(combined([Sample(prompt="p", completion="a7")])) == [1.0]
    data = tmp_path / "samples.jsonl"
    data.write_text('{"completion": "7"}\n{"completion": "no"}\n')
    assert (
        main(
            [
                "reward",
                "score",
                f"{user_file}:has_seven",
                "--input",
                str(data),
                "--out",
                str(tmp_path / "s.jsonl"),
            ]
        )
        == 0
    )
    scores = [json.loads(line)["total"] for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert scores == [1.0, 0.0]
    assert main(["reward", "score", "my_plugins:two_args", "--input", str(data)]) == 2
    assert "has the signature (a, b)" in " ".join(capsys.readouterr().err.split())


def test_thread_default_is_fixed_and_warned_about_under_load(monkeypatch):
    from rewardlab import api
    from rewardlab.llm.policy import PolicyConfig

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    monkeypatch.setattr("os.getloadavg", lambda: (0.0, 0.0, 0.0))
    idle = PolicyConfig().num_threads
    monkeypatch.setattr("os.getloadavg", lambda: (6.2, 0.0, 0.0))
    assert PolicyConfig().num_threads == idle == 8  # the load at start-up does not change the config
    note = api.thread_warning(8)
    assert note.startswith("num_threads=8 exceeds the 2 free core(s) of 8 (1-minute load 6.2)")
    assert "num_threads=2" in note and api.thread_warning(2) is None


def test_pettingzoo_parallel_env_by_path():
    env = registry.make_env("rewardlab.envs.uav_offloading:UAVOffloadingEnv", multi_agent=True)
    assert len(env.possible_agents) == 3
    with pytest.raises(PluginError, match="expected a PettingZoo ParallelEnv class, factory or instance"):
        registry.make_env("rewardlab.rewards.registry:COMBINATORS", multi_agent=True)


class CountUp(Algorithm):
    """The smallest Algorithm: its return is the number of steps taken."""

    def step(self):
        self.global_step += 1
        return {"episode_return_mean": float(self.global_step)}

    def evaluate(self, episodes):
        return {"mean_return": float(self.global_step), "std_return": 0.0, "episodes": episodes}

    def state_dict(self):
        return {"global_step": self.global_step}

    def load_state_dict(self, state):
        self.global_step = state["global_step"]


def test_a_user_algorithm_class_runs_and_is_rebuilt_from_its_path(tmp_path):
    import rewardlab

    run = rewardlab.train(CountUp, env="CartPole-v1", total_steps=5, out=tmp_path / "run", progress=False)
    assert f'algo = "{__file__}:CountUp"' in (run.dir / "config.toml").read_text()
    assert [m["episode_return_mean"] for m in run.metrics] == [1.0, 2.0, 3.0, 4.0, 5.0]
    again = rewardlab.evaluate(run.dir, 2)
    assert {k: again[k] for k in ("step", "mean_return", "episodes")} == {
        "step": 5,
        "mean_return": 5.0,
        "episodes": 2,
    }


def test_import_rewardlab_and_its_cli_stay_light():
    """`import rewardlab` (and the CLI's start-up) load neither torch nor transformers: the API's
    functions are lazy attributes, and a command imports what it uses."""
    import subprocess

    src = str(__import__("pathlib").Path(registry.__file__).resolve().parents[1])
    code = ("import sys, rewardlab, rewardlab.cli, rewardlab.api; "
            "print(sorted(m for m in ('torch', 'transformers', 'matplotlib', 'gymnasium') if m in sys.modules)); "
            "print(callable(rewardlab.train), callable(rewardlab.load))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True True"]
