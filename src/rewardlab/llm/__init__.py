"""Language-model agents trained with verifiable rewards: GRPO (and its loss variants), RLOO, DPO.

Kept light (no torch / transformers import): the registry reads these import paths.
"""

ALGORITHMS = {
    "grpo": "rewardlab.llm.grpo:GRPO",
    "rloo": "rewardlab.llm.rloo:RLOO",
    "dpo": "rewardlab.llm.dpo:DPO",
    "lm-ppo": "rewardlab.llm.lm_ppo:LMPPO",
    "reinforce-pp": "rewardlab.llm.reinforce_pp:ReinforcePP",
}
