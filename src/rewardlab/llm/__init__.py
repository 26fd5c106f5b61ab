"""Language-model policy optimisers: GRPO (and its loss variants), RLOO, DPO, token-level PPO,
REINFORCE++, ROVER, RLP; and the seed papers' small-scale HRPO and DCoLT.

Kept light (no torch / transformers import): the registry reads these import paths.
"""

ALGORITHMS = {
    "grpo": "rewardlab.llm.grpo:GRPO",
    "rloo": "rewardlab.llm.rloo:RLOO",
    "dpo": "rewardlab.llm.dpo:DPO",
    "a-lol": "rewardlab.llm.alol:ALoL",  # offline policy gradient on scored responses (A-LoL and variants)
    "hrpo": "rewardlab.llm.hrpo:HRPO",  # MasHost's HRPO on the simulated MAS-construction MDP
    "dcolt": "rewardlab.llm.dcolt:DCoLT",  # RL over a tiny masked diffusion LM's unmasking trajectory
    "lm-ppo": "rewardlab.llm.lm_ppo:LMPPO",
    "reinforce-pp": "rewardlab.llm.reinforce_pp:ReinforcePP",
    "rover": "rewardlab.llm.rover:ROVER",
    "rlp": "rewardlab.llm.rlp:RLP",
}
