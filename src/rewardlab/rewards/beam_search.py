"""Reward-guided step-level beam search (UI-Genie's use of its judge, arXiv 2505.21496; the PRM-guided
search of Snell et al. 2024 and of the PRM literature): a reward on *partial* trajectories steers
which steps are kept.

A trajectory is a prompt and a list of steps; its text is ``prompt + step_1 + sep + ... + step_t + sep``
(the layout :class:`~rewardlab.rewards.learned.process_reward.ProcessReward` reads, and that a
:class:`~rewardlab.rewards.learned.judge.Judge` scores like any completion). Each round:

1. every open beam asks ``propose(prompt, steps, k)`` for ``k`` candidate next steps (a policy's
   samples, or a script in tests);
2. every extension is scored by ``reward`` on its partial text, all in one call;
3. the ``beam_width`` highest-scoring extensions are kept (ties: the earlier proposal, so the
   search is deterministic given the proposals); an extension whose step ``is_final`` accepts, or
   that reaches ``max_steps``, is finished and stays in the pool with its score.

The search ends when no beam is open; the answer is the finished trajectory with the highest score.
``scored`` counts the reward's calls on candidates, the budget a sampling baseline is matched to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab.errors import ConfigError, RewardlabError


@dataclass
class Beam:
    steps: list[str]
    score: float
    finished: bool = False


@dataclass
class BeamSearchResult:
    best: Beam  # the finished trajectory with the highest score
    finished: list[Beam]  # every finished trajectory, best first
    scored: int  # candidates the reward scored (the compute budget)
    rounds: list[list[Beam]] = field(default_factory=list)  # the kept beams after each round


def trajectory_text(steps: Sequence[str], separator: str) -> str:
    return "".join(s + separator for s in steps)


def beam_search(
    prompt: str,
    propose: Callable[[str, list[str], int], Sequence[str]],
    reward: Any,
    *,
    beam_width: int = 2,
    expansions: int = 4,
    max_steps: int = 8,
    separator: str = "\n",
    is_final: Callable[[str], bool] | None = None,
) -> BeamSearchResult:
    """Step-level beam search for one prompt (see the module docstring). ``reward`` is a rewardlab
    ``Reward`` (called on Samples) or any callable returning one float per Sample."""
    from rewardlab.rewards.base import Sample

    for key, value in (("beam_width", beam_width), ("expansions", expansions), ("max_steps", max_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"beam_search: {key} must be an integer >= 1, got {value!r}")
    open_beams = [Beam([], 0.0)]
    finished: list[Beam] = []
    rounds: list[list[Beam]] = []
    scored = 0
    while open_beams:
        candidates: list[list[str]] = []
        for beam in open_beams:
            steps = list(propose(prompt, list(beam.steps), expansions))
            if not steps:
                raise RewardlabError(
                    f"beam_search: propose returned no step for {prompt!r} after {beam.steps}"
                )
            candidates += [[*beam.steps, s] for s in steps]
        samples = [Sample(prompt=prompt, completion=trajectory_text(c, separator)) for c in candidates]
        scores = np.asarray(reward(samples), dtype=np.float64)
        if scores.shape != (len(candidates),) or not np.isfinite(scores).all():
            raise RewardlabError(
                f"beam_search: the reward gave {scores.tolist()} for {len(candidates)} candidates; "
                "it must return one finite score per candidate"
            )
        scored += len(candidates)
        order = np.argsort(-scores, kind="stable")[:beam_width]  # stable: ties keep proposal order
        kept = [
            Beam(
                candidates[i],
                float(scores[i]),
                finished=len(candidates[i]) >= max_steps or bool(is_final and is_final(candidates[i][-1])),
            )
            for i in order
        ]
        rounds.append(kept)
        finished += [b for b in kept if b.finished]
        open_beams = [b for b in kept if not b.finished]
    finished.sort(key=lambda b: -b.score)
    return BeamSearchResult(finished[0], finished, scored, rounds)
