"""``miniwob``: QWeb's real web pages -- the ``miniwob`` package's tasks in headless Chromium.

Each episode is one MiniWoB++ page (``miniwob/<task>-v1`` through Gymnasium and Selenium). The
page is shown as text: the instruction, then one line per DOM element that has text or can be
acted on, ``[ref] tag "text"`` (inputs with their current value). Actions are calls in the
``call`` format: ``click(ref)`` and ``type(ref, "text")`` (MiniWoB's CLICK_ELEMENT and
FOCUS_ELEMENT_AND_TYPE_TEXT). A turn without a call ends the episode. ``prompt = "tools"`` asks as a
chat request (the page, the tool list, the syntax); ``prompt = "examples"`` shows two solved pages
and ends in ``Actions:``, a completion prompt for ``use_chat_template = false`` (SmolLM2-135M
answers the chat request in prose, but continues solved examples with calls). With ``examples``
only the calls of the turn's first paragraph count (a base model goes on to invent the next page).

Reward: MiniWoB's **raw** task reward at the step the page ends the episode (+1 success, -1
failure; the time-decayed default is not used because it depends on wall-clock time, which a loaded
CPU makes noisy); 0 when the agent stops or runs out of turns first. ``shaping = True`` adds
QWeb's potential-based shaping F = Phi(s') - Phi(s) (gamma 1), with Phi = the fraction of the
instruction's quoted strings currently typed into some input (a simplified form of QWeb's
"matching DOM elements" potential; ours). The shaping telescopes, so it never changes which
episodes are optimal.

Chromium and its driver come from Debian (``apt-get install chromium chromium-driver``). Starting a
browser costs seconds (about 8 s on a loaded 2-core machine) while a MiniWoB reset costs
milliseconds, so live browsers are kept in :data:`POOL`: an env takes one (per page task) at its
first ``reset``, and ``close`` hands it back for the next episode instead of quitting it. A reset
on a reused browser is MiniWoB's own reset -- end the episode, ``Math.seedrandom(seed)``, start the
next one -- so a page is the same function of its seed on a reused browser as on a fresh one (a
test checks). The pool is emptied (every browser quit, in use or idle) by
:meth:`MiniWoBEnv.close_shared` -- the agent loop's ``close`` at the end of a run or an evaluation
-- and at interpreter exit; a browser whose page raised is quit, never reused. Paths:
``MINIWOB_CHROME_BINARY`` / ``MINIWOB_CHROMEDRIVER`` (default ``/usr/bin/chromium`` and
``/usr/bin/chromedriver`` when present).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewardlab.agents.actions import Action, parse_action
from rewardlab.agents.env import StepResult, ToolEnv
from rewardlab.agents.rewards import EnvReturn
from rewardlab.agents.tools import ToolError, tool
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.tasks.base import Example

TASKS = ("click-button", "enter-text", "click-link", "focus-text")
_ACTIONABLE = ("button", "input_text", "input_password", "textarea", "a", "input_checkbox", "input_radio")
_QUOTED = re.compile(r'"([^"]+)"')
EPISODE_MS = 3_600_000  # the page timer (MiniWoB's default is 10 s)
#: ``prompt``: "tools" = the page, the tool list and the call syntax as a chat request;
#: "examples" = two solved pages, then the page, ending in the cue (a completion prompt, for
#: ``use_chat_template = false``: SmolLM2-135M answers the chat request in prose, but continues the
#: examples with calls -- see docs/agents.md)
PROMPTS = ("tools", "examples")
CUE = "Actions:\n"
END = "\x00"  # where example_end goes
EXAMPLES = (
    'Task: Click on the "No" button.\nPage:\n[2] button "Ok"\n[3] button "No"\n[4] button "Cancel"\n'
    f"{CUE}click(3){END}\n\n"
    'Task: Enter "Kim" into the text field and press Submit.\nPage:\n[4] input_text "" value=""\n'
    f'[5] button "Submit"\n{CUE}type(4, "Kim")\nclick(5){END}\n\n'
)


def browser_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) or None when either is missing."""
    chrome = (
        os.getenv("MINIWOB_CHROME_BINARY") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    driver = os.getenv("MINIWOB_CHROMEDRIVER") or shutil.which("chromedriver")
    return (chrome, driver) if chrome and driver else None


def unavailable_reason() -> str | None:
    """Why the env cannot run here (None when it can)."""
    try:
        import miniwob  # noqa: F401
    except ImportError:
        return "the miniwob package is not installed (pip install 'rewardlab[web]')"
    if browser_paths() is None:
        return "Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
    return None


class MiniWoBEnv(ToolEnv):
    name = "miniwob"
    description = "QWeb: MiniWoB++ pages in headless Chromium, click(ref) / type(ref, text)"
    summary = description
    action_format = "call"
    max_turns = 6

    def __init__(
        self,
        task: str = "click-button",
        shaping: bool = False,
        num_train: int = 1000,
        num_test: int = 50,
        prompt: str = "tools",
        example_end: str = "",
    ) -> None:
        super().__init__()
        if prompt not in PROMPTS:
            raise ConfigError(f"miniwob: prompt {prompt!r} is not one of {', '.join(PROMPTS)}")
        self.prompt = prompt
        # written after each example's calls: the tokenizer's end-of-turn text (SmolLM2: <|im_end|>)
        # shows the model where a turn stops, as the raw renderer ends its own turns
        self.example_end = str(example_end)
        tasks = task.split("+")
        for t in tasks:
            if t not in TASKS:
                raise ConfigError(
                    f"miniwob: task {t!r} is not one of {', '.join(TASKS)} (join several with '+')"
                )
        self.tasks, self.shaping = tasks, bool(shaping)
        self.num_train, self.num_test = num_train, num_test
        self.env: Any = None  # the Gymnasium env; the browser starts at the first reset
        self.env_task = ""
        self.page: dict[str, Any] = {}
        self.potential = 0.0
        self.outcome: float | None = None
        self.broken = False  # the page raised: its browser is quit on close, not reused

    # ---- problems -----------------------------------------------------------------------------
    def problems(self, split: str, seed: int) -> list[Example]:
        start = 10**6 if split == "test" else seed * 10**4
        n = self.num_test if split == "test" else self.num_train
        return [
            Example(prompt=None, info={"task": self.tasks[i % len(self.tasks)], "page_seed": start + i})
            for i in range(n)
        ]

    def default_reward(self) -> Any:
        return EnvReturn(maximum=1.0, minimum=-1.0)

    # ---- the browser --------------------------------------------------------------------------
    def _open(self, task: str) -> None:
        if self.env is not None and self.env_task == task:
            return
        self.close()
        self.env = POOL.take(task)
        self.env_task = task

    def close(self) -> None:
        """Hand the browser back to the pool (quit it if its page raised)."""
        if self.env is not None:
            POOL.give(self.env_task, self.env, healthy=not self.broken)
            self.env, self.broken = None, False

    @classmethod
    def close_shared(cls) -> None:
        """Quit every pooled browser (end of a run or an evaluation)."""
        POOL.close()

    # ---- text view ----------------------------------------------------------------------------
    def _render(self, obs: dict) -> str:
        lines = [f"Task: {obs['utterance']}", "Page:"]
        for el in obs["dom_elements"]:
            tag, text = str(el["tag"]), str(el["text"]).strip()
            if not text and tag not in _ACTIONABLE:
                continue
            line = f'[{int(el["ref"])}] {tag} "{text}"'
            if tag.startswith("input") or tag == "textarea":
                line += f' value="{el.get("value", "")}"'
            lines.append(line)
        return "\n".join(lines)

    def _phi(self, obs: dict) -> float:
        goals = _QUOTED.findall(str(obs.get("utterance", "")))
        if not goals:
            return 0.0
        values = {str(el.get("value", "")) for el in obs["dom_elements"]}
        return sum(g in values for g in goals) / len(goals)

    # ---- episode ------------------------------------------------------------------------------
    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        info = task.info if task is not None else {"task": self.tasks[0], "page_seed": seed}
        self._open(info["task"])
        # the group's episodes share this seed, so they see the same page
        # MiniWoB pages end themselves after 10 s of wall time; an LM on a loaded CPU (and G browsers
        # reset before the first turn is sampled) needs longer, so the page's own timer is lifted
        self.broken = True  # until the reset returns
        self.env.unwrapped.instance.driver.execute_script(f"core.EPISODE_MAX_TIME = {EPISODE_MS};")
        obs, _ = self.env.reset(seed=int(info["page_seed"]) + int(seed) % 1000)
        self.broken = False
        self.page, self.potential, self.outcome = obs, self._phi(obs), None
        if self.prompt == "examples":
            prompt = f"{EXAMPLES.replace(END, self.example_end)}{self._render(obs)}\n{CUE}"
        else:
            prompt = (
                f"{self._render(obs)}\n{self.instructions()}\n"
                'Act with click(ref) or type(ref, "text"), one call per turn.'
            )
        return [{"role": "user", "content": prompt}], {"state_key": self._state_key(obs)}

    @staticmethod
    def _state_key(obs: dict) -> tuple:
        return tuple((int(e["ref"]), str(e["text"]), str(e.get("value", ""))) for e in obs["dom_elements"])

    def _act(self, action: Any) -> str:
        self.broken = True  # until the step returns
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.broken = False
        if terminated or truncated:
            self.outcome = float(reward)
            return "The page ended the episode."
        self.page = obs
        return self._render(obs) + ("\n" + CUE if self.prompt == "examples" else "")

    def _ref(self, ref: int) -> int:
        refs = {int(e["ref"]) for e in self.page.get("dom_elements", [])}
        if int(ref) not in refs:
            raise ToolError(f"no element [{ref}] on the page")
        return int(ref)

    @tool
    def click(self, ref: int) -> str:
        """Click a page element.

        Args:
            ref: the element's number in square brackets
        """
        from miniwob.action import ActionTypes

        return self._act(self.env.unwrapped.create_action(ActionTypes.CLICK_ELEMENT, ref=self._ref(ref)))

    @tool
    def type(self, ref: int, text: str) -> str:
        """Click an input element and type text into it.

        Args:
            ref: the input's number in square brackets
            text: the text to type
        """
        from miniwob.action import ActionTypes

        create = self.env.unwrapped.create_action
        return self._act(create(ActionTypes.FOCUS_ELEMENT_AND_TYPE_TEXT, ref=self._ref(ref), text=str(text)))

    def on_tool_results(self, action: Action, results: list) -> tuple[float, bool]:
        reward = 0.0
        if self.shaping:
            phi = self._phi(self.page) if self.outcome is None else 0.0
            reward, self.potential = phi - self.potential, phi
        if self.outcome is not None:
            return reward + self.outcome, True
        return reward, False

    def step(self, action: Action) -> StepResult:
        if self.prompt == "examples" and "\n\n" in action.text.strip():
            # the examples prompt is a list of blocks: a base model writes its block, then goes on
            # inventing the next task's; only the calls of its own block (the first paragraph) count
            action = parse_action(action.text.strip().split("\n\n")[0], self.action_format, self.tool_table())
        out = super().step(action)
        info = {**out.info, "state_key": self._state_key(self.page), "success": self.outcome == 1.0}
        return StepResult(out.observation, out.reward, out.terminated, out.truncated, info)

    def on_answer(self, action: Action) -> StepResult:
        return StepResult([], 0.0, True, False, {})

    # ---- expert -------------------------------------------------------------------------------
    def oracle(self, messages: list[dict], info: dict) -> str:
        obs = self.page
        goals = _QUOTED.findall(str(obs["utterance"]))
        els = obs["dom_elements"]

        def find(tags: tuple, text: str | None = None) -> int | None:
            for e in els:
                if str(e["tag"]) in tags and (text is None or str(e["text"]).strip() == text):
                    return int(e["ref"])
            return None

        task = self.env_task
        if task in ("click-button", "click-link"):
            tags = ("button",) if task == "click-button" else ("a", "span")
            return f"click({find(tags, goals[0] if goals else None)})"
        if task == "focus-text":
            return f"click({find(('input_text',))})"
        # enter-text: type the quoted text, then press Submit
        field = find(("input_text",))
        if goals and not any(str(e.get("value", "")) == goals[0] for e in els):
            return f"type({field}, {goals[0]!r})"
        return f"click({find(('button',), 'Submit')})"


class BrowserPool:
    """Live MiniWoB browsers (Gymnasium envs), idle ones kept per page task for the next episode.

    Thread-safe: the agent loop resets and steps envs on ``env_workers`` threads. Every browser it
    started is tracked until quit, so :meth:`close` leaves no Chromium process behind even when an
    episode's env was never closed (a run that failed mid-step)."""

    def __init__(self, max_idle: int = 64) -> None:
        self.max_idle = max_idle
        self.idle: dict[str, list[Any]] = {}
        self.live: list[Any] = []
        self.started = 0  # browsers started (a reused one is not counted again)
        self.lock = threading.Lock()

    def take(self, task: str) -> Any:
        with self.lock:
            free = self.idle.get(task)
            if free:
                return free.pop()
        env = self._start(task)
        with self.lock:
            self.live.append(env)
            self.started += 1
        return env

    def give(self, task: str, env: Any, healthy: bool = True) -> None:
        with self.lock:
            keep = healthy and env in self.live and sum(map(len, self.idle.values())) < self.max_idle
            if keep:
                self.idle.setdefault(task, []).append(env)
                return
            if env in self.live:
                self.live.remove(env)
        _quit(env)

    def close(self) -> None:
        with self.lock:
            envs, self.live, self.idle = self.live, [], {}
        if len(envs) > 1:  # a quit waits on Chromium (seconds on a loaded machine): quit them together
            with ThreadPoolExecutor(min(len(envs), 8), thread_name_prefix="miniwob-quit") as pool:
                list(pool.map(_quit, envs))
        elif envs:
            _quit(envs[0])

    @staticmethod
    def _start(task: str) -> Any:
        why = unavailable_reason()
        if why is not None:
            raise RewardlabError(f"environment 'miniwob': {why}")
        import gymnasium as gym
        import miniwob
        from miniwob.reward import get_raw_reward

        chrome, driver = browser_paths()
        os.environ.setdefault("MINIWOB_CHROME_BINARY", chrome)
        os.environ.setdefault("MINIWOB_CHROMEDRIVER", driver)
        gym.register_envs(miniwob)
        env = gym.make(f"miniwob/{task}-v1", reward_processor=get_raw_reward)
        # the text view never reads the screenshot; taking one per observation costs CPU
        env.unwrapped.instance.record_screenshots = False
        return env


def _quit(env: Any) -> None:
    try:
        env.close()
    except Exception:  # a browser that already died; its driver process is gone or a zombie
        pass


#: the process's browsers (see the module docstring)
POOL = BrowserPool()
atexit.register(POOL.close)

__all__ = ["POOL", "BrowserPool", "MiniWoBEnv", "TASKS", "browser_paths", "unavailable_reason"]
