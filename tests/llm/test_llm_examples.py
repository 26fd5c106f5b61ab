"""The shipped example configs resolve against their algorithm's config and validate."""

from pathlib import Path

import pytest

from rewardlab.config import build_config
from rewardlab.llm.dpo import DPOConfig
from rewardlab.llm.grpo import GRPOConfig
from rewardlab.llm.rloo import RLOOConfig
from rewardlab.tasks.jsonl import read_preference_pairs

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "name, cls",
    [
        ("grpo_smollm2_arithmetic", GRPOConfig),
        ("rloo_smollm2_arithmetic", RLOOConfig),
        ("dpo_smollm2_arithmetic", DPOConfig),
    ],
)
def test_example_config_resolves(name, cls):
    cfg = build_config(cls, files=[ROOT / "examples" / f"{name}.toml"])
    assert cfg.model == "smollm2-135m-instruct" and cfg.env == "arithmetic" and cfg.lora_r == 16
    if cls is DPOConfig:
        pairs = read_preference_pairs(ROOT / cfg.data)
        assert len(pairs) == 300 and all(p["chosen"] != p["rejected"] for p in pairs)
