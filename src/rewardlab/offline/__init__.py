"""Offline RL: learn from a fixed Minari dataset; the environment only evaluates.

Datasets (``dataset.py``) and their generation (``generate.py``, ``rewardlab data``); one file per
algorithm on shared parts (``common.py``). Defaults are d3rlpy 2.8.1's, cited in each config and
listed in docs/offline.md.

The seed papers' mechanisms are functions beside them, not CLI algorithms: ``ssorl.py`` (SS-ORL's
inverse-dynamics proxy labels), ``ogsrl.py`` (OGSRL's guardian and Lagrangian), ``moe.py``,
``darkroom.py`` and ``ad.py`` (T2MIR's MoE layers, its grid, Algorithm Distillation with and without
them), ``icvf.py`` (V-PTR's pre-training loss), ``dt4ier.py`` (DT4IER's two-channel, user-weighted
Decision Transformer on a simulated recommender); ``pointmaze.py`` is PointMaze with flat
observations and its waypoint controller. A-LoL is ``rewardlab.llm.alol`` (``rewardlab train a-lol``).
"""

ALGORITHMS: dict[str, str] = {
    "bc": "rewardlab.offline.bc:BC",
    "td3-bc": "rewardlab.offline.td3_bc:TD3BC",
    "iql": "rewardlab.offline.iql:IQL",
    "cql": "rewardlab.offline.cql:CQL",  # continuous actions; discrete-cql below
    "discrete-cql": "rewardlab.offline.discrete_cql:DiscreteCQL",
    "dt": "rewardlab.offline.dt:DT",
}
