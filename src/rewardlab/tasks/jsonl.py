"""``jsonl``: the user's own prompts, one JSON object per line.

Each line is ``{"prompt": "...", "reference": ...}`` or ``{"messages": [{"role": ..., "content":
...}, ...], "reference": ...}``; every other key is passed to the reward as ``info``. A line that
is not JSON, or lacks ``prompt`` / ``messages``, is an error naming the file and line number.
The test split is ``test_path`` when given, else a seeded ``test_fraction`` of the file.

:func:`read_preference_pairs` reads DPO data (``{"prompt", "chosen", "rejected"}`` per line) with
the same line-numbered errors.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from rewardlab.core.io import read_jsonl as read_lines
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.tasks.base import Example, Task, build_reward


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; errors name the file and line."""
    rows = read_lines(path, what="data file")
    if not rows:
        raise RewardlabError(f"data file {str(Path(path).expanduser())!r} has no examples")
    return rows


def _prompt(path: Path | str, number: int, obj: dict[str, Any], key: str) -> str | list[dict[str, Any]]:
    if key in obj:
        if not isinstance(obj[key], str):
            raise RewardlabError(f"{path}:{number}: {key!r} must be a string, got {type(obj[key]).__name__}")
        return obj[key]
    if "messages" in obj:
        messages = obj["messages"]
        if not (
            isinstance(messages, list)
            and messages
            and all(isinstance(m, dict) and "role" in m and "content" in m for m in messages)
        ):
            raise RewardlabError(f"{path}:{number}: 'messages' must be a list of {{role, content}} objects")
        return messages
    raise RewardlabError(
        f"{path}:{number}: line has no {key!r} (or 'messages'); keys: {', '.join(obj) or 'none'}"
    )


def load_examples(
    path: str | Path, prompt_key: str = "prompt", reference_key: str = "reference"
) -> list[Example]:
    return examples_from_rows(path, read_jsonl(path), prompt_key, reference_key)


def examples_from_rows(
    path: Path | str, rows: list[tuple[int, Any]], prompt_key: str = "prompt", reference_key: str = "reference"
) -> list[Example]:
    """Examples from ``(line number, object)`` rows; ``path`` names their source in errors."""
    out = []
    for number, obj in rows:
        if not isinstance(obj, dict):
            raise RewardlabError(f"{path}:{number}: expected an object (dict), got {type(obj).__name__}")
        prompt = _prompt(path, number, obj, prompt_key)
        info = {k: v for k, v in obj.items() if k not in (prompt_key, "messages", reference_key)}
        info["line"] = number
        out.append(Example(prompt=prompt, reference=obj.get(reference_key), info=info))
    return out


def read_preference_pairs(path: str | Path) -> list[dict[str, Any]]:
    """DPO pairs ``{"prompt", "chosen", "rejected"}`` (strings; prompt may be ``messages``)."""
    pairs = []
    for number, obj in read_jsonl(path):
        prompt = _prompt(path, number, obj, "prompt")
        for key in ("chosen", "rejected"):
            if not isinstance(obj.get(key), str):
                got = "missing" if key not in obj else f"a {type(obj[key]).__name__}"
                raise RewardlabError(f"{path}:{number}: {key!r} must be a string completion ({got})")
        pairs.append({"prompt": prompt, "chosen": obj["chosen"], "rejected": obj["rejected"], "line": number})
    return pairs


class JsonlTask(Task):
    name = "jsonl"
    description = "your own JSONL file of {prompt | messages, reference}; reward exact_match by default"

    def __init__(
        self,
        seed: int = 0,
        reward: str | dict[str, Any] | None = None,
        *,
        path: str = "",
        test_path: str = "",
        test_fraction: float = 0.1,
        prompt_key: str = "prompt",
        reference_key: str = "reference",
        records: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(seed, reward)
        if not path and records is None:
            raise ConfigError('task "jsonl" needs a file: set task_params = {path = "data.jsonl"}')
        if path and records is not None:
            raise ConfigError('task "jsonl": give either path (a file) or records (prompt dicts), not both')
        if records is not None and (not isinstance(records, list) or not records):
            raise ConfigError(f"task prompts must be a non-empty list of dicts, got {records!r:.80}")
        self.records = records
        if not 0 <= test_fraction < 1:
            raise ConfigError(f"jsonl: test_fraction must be in [0, 1), got {test_fraction}")
        self.path, self.test_path, self.test_fraction = path, test_path, test_fraction
        self.prompt_key, self.reference_key = prompt_key, reference_key

    def build(self, split: str) -> list[Example]:
        if self.test_path:
            return load_examples(
                self.path if split == "train" else self.test_path, self.prompt_key, self.reference_key
            )
        if self.records is not None:  # prompt dicts given in Python; "line" numbers count from 1
            rows = list(enumerate(self.records, start=1))
            examples = examples_from_rows("prompt records", rows, self.prompt_key, self.reference_key)
        else:
            examples = load_examples(self.path, self.prompt_key, self.reference_key)
        order = list(range(len(examples)))
        random.Random(0).shuffle(order)  # a fixed split, whatever the run's seed
        n_test = int(round(self.test_fraction * len(examples)))
        chosen = sorted(order[:n_test]) if split == "test" else sorted(order[n_test:])
        if not chosen:
            # the fewest lines whose seeded split leaves both sides non-empty (round() as above)
            least = next((n for n in range(2, 10**6) if 0 < round(self.test_fraction * n) < n), None)
            need = (
                f"at least {least} lines for test_fraction={self.test_fraction}"
                if least
                else "test_fraction > 0"
            )
            raise ConfigError(
                f"jsonl: {str(self.path)!r} has {len(examples)} examples, which leaves the {split!r} split "
                f"empty; valid: {need} (or a separate test_path)"
            )
        return [examples[i] for i in chosen]

    def default_reward(self) -> Any:
        return build_reward("exact_match")
