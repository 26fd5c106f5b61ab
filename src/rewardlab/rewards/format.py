"""``format_tags``: 1 when the completion is exactly ``<think>...</think><answer>...</answer>``.

The DeepSeek-R1-style format reward as UI-R1 writes it (Lu et al., 2025, "UI-R1: Enhancing
Action Prediction of GUI Agents by Reinforcement Learning"; code: lll6gg/UI-R1
``src/ui_r1/src/open_r1/grpo_json_action_coord.py::format_reward``):
``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", text, re.DOTALL)``. The tag names
are configurable (VLA-R1 uses think/output, Thoth think/key/orc/note). With
``strip_whitespace=True`` leading/trailing whitespace around the whole completion is allowed.
"""

from __future__ import annotations

from rewardlab.errors import ConfigError
from rewardlab.rewards.base import Reward, Sample
from rewardlab.rewards.parsing import tags_pattern


class FormatTags(Reward):
    name = "format_tags"
    description = "1 if the completion is <think>...</think> then <answer>...</answer> (tags configurable), else 0"

    def __init__(
        self,
        tags: list[str] | tuple[str, ...] = ("think", "answer"),
        *,
        strip_whitespace: bool = False,
        name: str | None = None,
        on_error: str = "raise",
    ) -> None:
        super().__init__(name=name, on_error=on_error)
        tags = tuple(tags)
        if not tags or not all(isinstance(t, str) and t.strip() for t in tags):
            raise ConfigError(f"format_tags: tags must be non-empty tag names, got {list(tags)!r}")
        self.tags = tags
        self.strip_whitespace = strip_whitespace
        self.pattern = tags_pattern(tags)

    def compute(self, sample: Sample) -> float:
        text = sample.completion.strip() if self.strip_whitespace else sample.completion
        return 1.0 if self.pattern.fullmatch(text) else 0.0
