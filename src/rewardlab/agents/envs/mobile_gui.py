"""``mobile-gui``: a synthetic multi-screen phone app with pop-ups (after Mobile-R1).

Mobile-R1 trains a GUI agent in stages: (ii) single-step online GRPO with an **action-level**
reward, then (iii) multi-turn online GRPO with a **task-level** trajectory reward so the agent
learns to explore and recover. No code was found and the exact values are unverified, so here:

* screens are element lists (type, label, bounding box on a 1080 x 1920 screen, as the
  ``gui_actions`` task lays them out) joined by a small app graph (home -> settings -> wifi, home
  -> messages -> a contact, ...); a task is a goal reached by a reference action sequence;
* a pop-up (an "Install the new version?" dialog) appears after an action with probability
  ``popup_prob`` (drawn from the episode seed); it must be closed (its Close button or
  ``navigate_back``) before the app reacts again -- the error recovery stage 3 is about;
* actions are UI-R1 JSON, ``<think>...</think><answer>[{"action": "click", "coordinate": [x, y]}]</answer>``
  (``click``, ``input_text``, ``navigate_back``);
* ``stage = "action"`` (stage ii): one step of a reference trajectory per episode, scored by
  ``gui_action`` (UI-R1's action type + click-in-box + format, in [0, 3]: our stand-in for
  Mobile-R1's R_act + R_fmt);
* ``stage = "task"`` (stage iii, default): the whole task; reward 1 when the goal screen state is
  reached (**ours**), given by the env at the end.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from rewardlab.agents.actions import Action
from rewardlab.agents.env import ChatEnv, StepResult
from rewardlab.errors import ConfigError
from rewardlab.tasks.base import Example

WIDTH, HEIGHT = 1080, 1920
SCREENS = {
    "home": [("icon", "Settings"), ("icon", "Messages"), ("icon", "Camera"), ("icon", "Shop")],
    "settings": [("button", "Wi-Fi"), ("button", "Bluetooth"), ("button", "Display")],
    "wifi": [("checkbox", "Wi-Fi switch")],
    "bluetooth": [("checkbox", "Bluetooth switch")],
    "display": [("checkbox", "Dark mode")],
    "messages": [("button", "Ann"), ("button", "Bo"), ("button", "Cy")],
    "chat": [("text_field", "Message"), ("button", "Send")],
    "popup": [("button", "Close"), ("button", "Install")],
}
LINKS = {
    ("home", "Settings"): "settings",
    ("home", "Messages"): "messages",
    ("settings", "Wi-Fi"): "wifi",
    ("settings", "Bluetooth"): "bluetooth",
    ("settings", "Display"): "display",
}
PARENT = {
    "settings": "home",
    "messages": "home",
    "wifi": "settings",
    "bluetooth": "settings",
    "display": "settings",
    "chat": "messages",
}
WORDS = ["hello", "on my way", "see you at 5", "thanks!"]
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
STAGES = ("task", "action")


def layout(rng: random.Random, screen: str) -> list[dict[str, Any]]:
    """Elements of ``screen`` on a grid of 8 rows (one per row, random width / offset)."""
    out = []
    rows = rng.sample(range(8), len(SCREENS[screen]))
    for (kind, label), r in zip(SCREENS[screen], rows):
        ch = HEIGHT // 8
        w, h = rng.randint(200, 700), rng.randint(80, ch - 40)
        x1, y1 = rng.randint(10, WIDTH - w - 10), r * ch + rng.randint(10, ch - h - 10)
        out.append({"type": kind, "label": label, "bbox": [x1, y1, x1 + w, y1 + h]})
    return out


def center(el: dict[str, Any]) -> list[int]:
    x1, y1, x2, y2 = el["bbox"]
    return [(x1 + x2) // 2, (y1 + y2) // 2]


def make_goal(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["toggle", "message"])
    if kind == "toggle":
        screen = rng.choice(["wifi", "bluetooth", "display"])
        label = SCREENS[screen][0][1]
        button = {"wifi": "Wi-Fi", "bluetooth": "Bluetooth", "display": "Display"}[screen]
        return {
            "text": f"Turn on {label.replace(' switch', '')}.",
            "steps": [("home", "Settings"), ("settings", button), (screen, label)],
            "kind": "toggle",
            "target": label,
        }
    contact, word = rng.choice(["Ann", "Bo", "Cy"]), rng.choice(WORDS)
    return {
        "text": f'Send "{word}" to {contact}.',
        "steps": [("home", "Messages"), ("messages", contact), ("chat", "Message", word), ("chat", "Send")],
        "kind": "message",
        "target": f"{contact}:{word}",
    }


def parse_gui(text: str) -> dict[str, Any] | None:
    found = _ANSWER.findall(text)
    if not found:
        return None
    try:
        obj = json.loads(found[-1].strip())
    except ValueError:
        return None
    if isinstance(obj, list) and obj:
        obj = obj[0]
    return obj if isinstance(obj, dict) and isinstance(obj.get("action"), str) else None


class MobileGuiEnv(ChatEnv):
    name = "mobile-gui"
    description = "Mobile-R1-style app: screens, pop-ups, UI-R1 JSON actions; task- or action-level reward"
    summary = description
    action_format = "hermes"  # the env reads <answer> JSON itself
    max_turns = 8

    def __init__(
        self,
        stage: str = "task",
        popup_prob: float = 0.3,
        num_train: int = 1000,
        num_test: int = 100,
        test_seed: int = 1234,
    ) -> None:
        if stage not in STAGES:
            raise ConfigError(f"mobile-gui: stage {stage!r} is not one of {', '.join(STAGES)}")
        if not 0 <= popup_prob < 1:
            raise ConfigError(f"mobile-gui: popup_prob must be in [0, 1), got {popup_prob}")
        self.stage, self.popup_prob = stage, popup_prob
        self.num_train, self.num_test, self.test_seed = num_train, num_test, test_seed
        self.max_turns = 1 if stage == "action" else 8

    def problems(self, split: str, seed: int) -> list[Example]:
        rng = random.Random(self.test_seed if split == "test" else seed + 13)
        out = []
        for _ in range(self.num_test if split == "test" else self.num_train):
            goal = make_goal(rng)
            step = rng.randrange(len(goal["steps"])) if self.stage == "action" else 0
            out.append(
                Example(
                    prompt=None,
                    reference=None,
                    info={"goal": goal, "layout_seed": rng.randrange(10**9), "step": step},
                )
            )
        if self.stage == "action":  # the expert's action at that step is the gui_action reference
            for ex in out:
                ex.reference = MobileGuiEnv(stage="action").reset(seed=0, task=ex)[1]["reference"]
        return out

    def default_reward(self) -> Any:
        if self.stage == "action":
            from rewardlab.rewards import get

            return get("gui_action")
        from rewardlab.agents.rewards import EnvReturn

        return EnvReturn(maximum=1.0, minimum=0.0)

    # ---- state --------------------------------------------------------------------------------
    def _screen_text(self) -> str:
        shown = "popup" if self.popup else self.screen
        els = self.layouts[shown]
        lines = "\n".join(f'- {e["type"]}, "{e["label"]}", {e["bbox"]}' for e in els)
        title = "Install the new version?" if self.popup else self.screen
        extra = f" (typed: {self.typed!r})" if self.screen == "chat" and self.typed else ""
        return f"Screen: {title}{extra}\n{lines}"

    def reset(self, *, seed: int, task: Example | None = None) -> tuple[list[dict], dict]:
        if task is None:
            raise ConfigError("mobile-gui: reset needs task= (one of env.problems(split, seed))")
        self.goal = task.info["goal"]
        lrng = random.Random(task.info["layout_seed"])
        self.layouts = {s: layout(lrng, s) for s in SCREENS}
        self.rng = random.Random(seed)
        self.screen, self.popup, self.typed, self.contact, self.done_state = "home", False, "", "", set()
        self.progress = 0
        for _ in range(task.info["step"]):  # stage ii: start mid-trajectory
            self._apply_reference(self.goal["steps"][self.progress])
        prompt = (
            f"You control a {WIDTH}x{HEIGHT} phone. Goal: {self.goal['text']}\n{self._screen_text()}\n"
            'Actions: click (with "coordinate": [x, y]), input_text (with "text"), navigate_back. Think inside '
            "<think>...</think>, then give one action as JSON in <answer>...</answer>, e.g. "
            '<answer>[{"action": "click", "coordinate": [100, 200]}]</answer>.'
        )
        return [{"role": "user", "content": prompt}], {"reference": self.reference()}

    def reference(self) -> dict[str, Any]:
        """The expert's next action (the gui_action reward's reference for stage ii)."""
        if self.popup:
            return {"action": "click", "bbox": self._element("Close")["bbox"]}
        step = self.goal["steps"][self.progress]
        if len(step) == 3:
            return {"action": "input_text", "text": step[2]}
        return {"action": "click", "bbox": self._element(step[1])["bbox"]}

    def _element(self, label: str) -> dict[str, Any]:
        shown = "popup" if self.popup else self.screen
        return next(e for e in self.layouts[shown] if e["label"] == label)

    def _apply_reference(self, step: tuple) -> None:
        if len(step) == 3:
            self.typed = step[2]
        else:
            self._click_label(step[1])

    def _click_label(self, label: str) -> None:
        before = self.screen
        if (self.screen, label) in LINKS:
            self.screen = LINKS[(self.screen, label)]
        elif self.screen == "messages":
            self.screen, self.contact, self.typed = "chat", label, ""
        elif self.screen in ("wifi", "bluetooth", "display"):
            self.done_state.add(label)
        elif self.screen == "chat" and label == "Send" and self.typed:
            self.done_state.add(f"{self.contact}:{self.typed}")
        steps = self.goal["steps"]
        if self.progress < len(steps) and tuple(steps[self.progress][:2]) == (before, label):
            self.progress += 1

    def step(self, action: Action) -> StepResult:
        self.progress_before = self.progress
        act = parse_gui(action.text)
        info: dict[str, Any] = {}
        if act is None:
            info.update(malformed=1, errors=1)
            return self._after(
                "Could not read an action; answer with JSON in <answer>...</answer>.", info, moved=False
            )
        kind = act["action"]
        if kind == "navigate_back":
            if self.popup:
                self.popup = False
            else:
                self.screen = PARENT.get(self.screen, "home")
            return self._after("OK.", info)
        if kind == "input_text":
            if self.popup or self.screen != "chat":
                return self._after("There is no text field focused.", info, moved=False)
            self.typed = str(act.get("text", ""))
            if self.progress < len(self.goal["steps"]) and len(self.goal["steps"][self.progress]) == 3:
                self.progress += 1 if self.typed == self.goal["steps"][self.progress][2] else 0
            return self._after("OK.", info)
        if kind == "click":
            xy = act.get("coordinate")
            hit = None
            if isinstance(xy, list) and len(xy) == 2 and all(isinstance(v, int | float) for v in xy):
                shown = "popup" if self.popup else self.screen
                hit = next(
                    (
                        e
                        for e in self.layouts[shown]
                        if e["bbox"][0] <= xy[0] <= e["bbox"][2] and e["bbox"][1] <= xy[1] <= e["bbox"][3]
                    ),
                    None,
                )
            if hit is None:
                return self._after("Nothing there.", info, moved=False)
            if self.popup:
                self.popup = hit["label"] != "Close"
                return self._after("OK.", info, moved=False)
            self._click_label(hit["label"])
            return self._after("OK.", info)
        info.update(malformed=1, errors=1)
        return self._after(f"Unknown action {kind[:20]!r}.", info, moved=False)

    def _after(self, note: str, info: dict[str, Any], moved: bool = True) -> StepResult:
        success = self.goal["target"] in self.done_state
        if self.stage == "action":  # stage ii: did this one action follow the reference?
            success = self.progress > self.progress_before
        info["success"] = success
        if success or self.stage == "action":
            return StepResult([], 1.0 if success and self.stage == "task" else 0.0, True, False, info)
        if moved and not self.popup and self.rng.random() < self.popup_prob:
            self.popup = True
        return StepResult(
            [{"role": "user", "content": f"{note}\n{self._screen_text()}"}], 0.0, False, False, info
        )

    def oracle(self, messages: list[dict], info: dict) -> str:
        ref = self.reference()
        if ref["action"] == "input_text":
            body = {"action": "input_text", "text": ref["text"]}
        else:
            body = {"action": "click", "coordinate": center(ref)}
        return f"<think>next step</think><answer>{json.dumps([body])}</answer>"
