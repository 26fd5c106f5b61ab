"""``gui_actions``: UI-R1-style action prediction on synthetic screens described as text.

Lu et al. 2025, "UI-R1: Enhancing Action Prediction of GUI Agents by Reinforcement Learning"
(arXiv 2503.21620). Each screen is a list of elements (type, label, bounding box in pixels on a
1080 x 1920 screen) laid out on a grid so boxes never overlap; the instruction asks for one
action: click an element, type text into a field, scroll, or navigate back / home. The answer is
a JSON action inside ``<answer>`` after a ``<think>`` block, e.g.
``<think>...</think><answer>[{"action": "click", "coordinate": [540, 310]}]</answer>``. The
reward is ``gui_action`` from the rewards registry (action type + click inside the box + format,
in [0, 3]).
"""

from __future__ import annotations

import json
import random
from typing import Any

from rewardlab.tasks.base import Example, Task, build_reward

WIDTH, HEIGHT = 1080, 1920
ELEMENTS = {
    "button": [
        "OK",
        "Cancel",
        "Submit",
        "Login",
        "Sign up",
        "Next",
        "Back",
        "Save",
        "Delete",
        "Share",
        "Buy now",
    ],
    "text_field": ["Search", "Email", "Password", "Username", "Message", "Address", "Phone number"],
    "checkbox": ["Remember me", "Accept terms", "Dark mode", "Notifications", "Subscribe"],
    "link": ["Forgot password?", "Privacy policy", "Help", "Terms of service", "More info"],
    "icon": ["Settings", "Home", "Profile", "Cart", "Menu", "Camera", "Favorites"],
}
WORDS = ["hello", "rewardlab", "pizza near me", "john@example.com", "meeting at 5", "weather today"]
PROMPT = (
    "You are a GUI agent on a {w}x{h} phone screen with these elements (type, label, box [x1, y1, x2, y2]):\n"
    "{elements}\n"
    "Instruction: {instruction}\n"
    'Actions: click (with "coordinate": [x, y]), input_text (with "text"), scroll (with "direction": '
    "up or down), navigate_back, navigate_home.\n"
    "First think inside <think>...</think>, then give the action as JSON inside <answer>...</answer>, e.g. "
    '<answer>[{{"action": "click", "coordinate": [100, 200]}}]</answer>.'
)


def make_screen(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """``n`` elements with distinct labels on a 2-column grid (no overlaps)."""
    rows, cols = 8, 2
    cells = rng.sample(range(rows * cols), n)
    labels: set[str] = set()
    out = []
    for cell in cells:
        kind = rng.choice(list(ELEMENTS))
        label = rng.choice([x for x in ELEMENTS[kind] if x not in labels] or ELEMENTS[kind])
        labels.add(label)
        r, c = divmod(cell, cols)
        cw, ch = WIDTH // cols, HEIGHT // rows
        w, h = rng.randint(cw // 3, cw - 40), rng.randint(60, ch - 40)
        x1 = c * cw + rng.randint(10, cw - w - 10)
        y1 = r * ch + rng.randint(10, ch - h - 10)
        out.append({"type": kind, "label": label, "bbox": [x1, y1, x1 + w, y1 + h]})
    return out


def make_problem(rng: random.Random, num_elements: int) -> Example:
    screen = make_screen(rng, num_elements)
    kind = rng.choices(["click", "input_text", "scroll", "navigate_back", "navigate_home"], [6, 2, 1, 1, 1])[
        0
    ]
    fields = [e for e in screen if e["type"] == "text_field"]
    if kind == "input_text" and not fields:
        kind = "click"
    if kind == "click":
        target = rng.choice(screen)
        instruction = f'Tap the "{target["label"]}" {target["type"].replace("_", " ")}.'
        reference: dict[str, Any] = {"action": "click", "bbox": target["bbox"]}
    elif kind == "input_text":
        target, text = rng.choice(fields), rng.choice(WORDS)
        instruction = f'Type "{text}" into the "{target["label"]}" field.'
        reference = {"action": "input_text", "text": text}
    elif kind == "scroll":
        direction = rng.choice(["up", "down"])
        instruction = f"Scroll {direction} to see more."
        reference = {"action": "scroll", "direction": direction}
    elif kind == "navigate_back":
        instruction, reference = "Go back to the previous screen.", {"action": "navigate_back"}
    else:
        instruction, reference = "Go to the home screen.", {"action": "navigate_home"}
    elements = "\n".join(f'- {e["type"]}, "{e["label"]}", {e["bbox"]}' for e in screen)
    prompt = PROMPT.format(w=WIDTH, h=HEIGHT, elements=elements, instruction=instruction)
    return Example(prompt=prompt, reference=reference, info={"screen": json.dumps(screen)})


class GuiActions(Task):
    name = "gui_actions"
    description = "UI-R1-style GUI action prediction on synthetic text screens; reward gui_action (0..3)"

    def __init__(
        self,
        seed: int = 0,
        reward: str | dict[str, Any] | None = None,
        *,
        num_elements: int = 5,
        num_train: int = 2000,
        num_test: int = 200,
        test_seed: int = 1234,
        check_args: bool = False,
    ) -> None:
        super().__init__(seed, reward)
        from rewardlab.errors import ConfigError

        if not 1 <= num_elements <= 16:
            raise ConfigError(f"gui_actions: num_elements must be in 1..16, got {num_elements}")
        self.num_elements, self.num_train, self.num_test, self.test_seed = (
            num_elements,
            num_train,
            num_test,
            test_seed,
        )
        self.check_args = check_args

    def build(self, split: str) -> list[Example]:
        test = [
            make_problem(random.Random(f"{self.test_seed}-{i}"), self.num_elements)
            for i in range(self.num_test)
        ]
        if split == "test":
            return test
        held_out = {ex.prompt for ex in test}
        rng = random.Random(self.seed)
        out: list[Example] = []
        while len(out) < self.num_train:
            ex = make_problem(rng, self.num_elements)
            if ex.prompt not in held_out:
                out.append(ex)
        return out

    def default_reward(self) -> Any:
        return build_reward("gui_action", check_args=self.check_args)
