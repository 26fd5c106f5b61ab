"""Language-model agents trained with verifiable rewards: GRPO (and its loss variants), RLOO, DPO.

Kept light (no torch / transformers import): the registry reads these import paths.
"""

ALGORITHMS = {
    "grpo": "rewardlab.llm.grpo:GRPO",
    "rloo": "rewardlab.llm.rloo:RLOO",
    "dpo": "rewardlab.llm.dpo:DPO",
    "hrpo": "rewardlab.llm.hrpo:HRPO",  # MasHost's HRPO on the simulated MAS-construction MDP
    "dcolt": "rewardlab.llm.dcolt:DCoLT",  # RL over a tiny masked diffusion LM's unmasking trajectory
}
ALGORITHMS["rover"] = "rewardlab.llm.rover:ROVER"
ALGORITHMS["rlp"] = "rewardlab.llm.rlp:RLP"
