"""Adversarial Inverse Reinforcement Learning (Fu, Luo & Levine 2018, arXiv:1710.11248) as a transition reward.

The discriminator's logit is ``f(s, a, s') - log pi(a | s)`` with the *shaped* reward

    f(s, a, s') = g(s, a) + gamma * (1 - done) * h(s') - h(s)

(``g`` the reward network, ``h`` a potential; imitation's ``BasicShapedRewardNet`` and
``AIRL.logits_expert_is_high``; a terminal state's potential is 0, as imitation fixes it).
Expert transitions are labelled 1, the policy's 0, with binary cross-entropy on that logit
(:func:`rewardlab.rewards.learned.adversarial.discriminator_loss`). The policy is paid ``f``
(imitation's ``reward_train``); ``g`` alone is the recovered, *disentangled* reward
(``reward_test``): :meth:`AIRL.save_recovered` writes it, and the ``airl_recovered`` transition
reward scores it, frozen, so PPO can be re-trained from scratch on it - the property that separates
AIRL from GAIL, whose discriminator is meaningless once the policy it was trained against is gone.
``state_only = true`` makes ``g`` a function of ``s`` alone, the variant the AIRL paper shows is
disentangled from the dynamics. ``done`` in the shaping term is a *termination*: at a time limit
the MDP goes on, so ``gamma h(s')`` stays (the demonstrations' ``dones`` are terminations too).

``log pi(a | s)`` is the learner's *current* policy scored on each discriminator batch, expert rows
and rollout rows alike (imitation's ``_get_log_policy_act_prob``, ``evaluate_actions`` of the
generator's policy): the reward declares ``needs_policy_log_prob`` and PPO's reward-stream seam
binds its ``log_prob(obs, actions)`` (:meth:`rewardlab.rl.streams.RewardStreams.bind_policy`).
Differences from imitation, forced by PPO's loop: the discriminator trains on each new rollout
*before* PPO's update on it (imitation: after the generator's ``learn``), so on the rollout's rows
the policy scored is the one that acted; and it trains on that rollout only (imitation's
``gen_replay_buffer_capacity`` equal to the rollout, its script default). Demonstrations need
``next_obs`` and ``dones`` besides ``obs`` and ``actions``
(:func:`~rewardlab.rewards.learned.adversarial.collect_demonstrations` saves them).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rewardlab.core.state import OBJECT
from rewardlab.errors import ConfigError, RewardlabError
from rewardlab.rewards.learned.adversarial import AdversarialReward, load_demonstrations
from rewardlab.rewards.learned.base import TransitionReward, Transitions
from rewardlab.rl.common import mlp


def airl_logit(
    reward: torch.Tensor,
    potential: torch.Tensor,
    next_potential: torch.Tensor,
    done: torch.Tensor,
    log_pi: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """``g + gamma (1 - done) h' - h - log pi``: AIRL's discriminator logit (expert high)."""
    return shaped_reward(reward, potential, next_potential, done, gamma) - log_pi


def shaped_reward(
    reward: torch.Tensor,
    potential: torch.Tensor,
    next_potential: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """``f = g + gamma (1 - done) h(s') - h(s)`` (potential-based shaping, Ng et al. 1999)."""
    return reward + gamma * (1.0 - done.float()) * next_potential - potential


class AIRL(AdversarialReward):
    """AIRL (see the module docstring): ``self.discriminator`` is ``g(s, a)``, ``self.potential`` is ``h(s)``."""

    name = "airl"
    gamma = 0.99
    episodic = True
    state_fields = {"potential": OBJECT}
    needs_policy_log_prob = True  # PPO's seam binds policy_log_prob (rewardlab.rl.streams)

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        demonstrations: str = "",
        num_envs: int = 1,
        seed: int = 0,
        name: str | None = None,
        update_order: str | None = None,
        hidden_sizes: tuple[int, ...] = (32,),  # imitation's BasicShapedRewardNet: reward_hid_sizes (32,)
        potential_hidden_sizes: tuple[int, ...] = (32, 32),  # ... potential_hid_sizes (32, 32)
        discount: float = 0.99,  # the shaping discount (imitation: discount_factor 0.99)
        learning_rate: float = 3e-4,
        updates_per_iteration: int = 8,
        batch_size: int = 1024,
        gamma: float = 0.99,
        coef: float = 1.0,
        allow_variable_horizon: bool = False,
        state_only: bool = False,
        obs_norm: str = "reference",  # "running": imitation's RunningNorm input layer (worse here, see docs)
    ) -> None:
        self.gamma, self.coef, self.discount = float(gamma), float(coef), float(discount)
        if not isinstance(action_space, gym.spaces.Discrete):
            raise ConfigError(
                f"reward {name or self.name!r} cannot take the action space {action_space}: it takes Discrete "
                "actions only (for a Box, PPO's env receives the clipped action, whose log pi(a|s) under "
                "the unbounded Gaussian is not the sampled action's)"
            )
        super().__init__(
            observation_space, action_space, demonstrations, num_envs=num_envs, seed=seed, name=name,
            update_order=update_order, hidden_sizes=hidden_sizes, learning_rate=learning_rate,
            updates_per_iteration=updates_per_iteration, batch_size=batch_size,
            allow_variable_horizon=allow_variable_horizon, use_action=not state_only, obs_norm=obs_norm,
        )  # fmt: skip
        data = load_demonstrations(demonstrations)
        missing = [k for k in ("next_obs", "dones") if k not in data]
        if missing:
            raise ConfigError(
                f"reward {self.name!r}: demonstrations file {demonstrations!r} lacks {missing}; AIRL's shaping "
                "term needs the next observation and the episode ends (collect_demonstrations saves them)"
            )
        self.reference_next_obs = data["next_obs"].reshape(len(data["next_obs"]), -1).astype(np.float64)
        self.reference_dones = np.asarray(data["dones"], dtype=bool)
        obs_dim = int(np.prod(observation_space.shape))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            self.potential = mlp(obs_dim, potential_hidden_sizes, 1, "relu")
        self.optimizer = torch.optim.Adam(
            [*self.discriminator.parameters(), *self.potential.parameters()], lr=learning_rate
        )
        # log pi(a|s) of the learner's current policy; bound by the trainer, not state
        self.policy_log_prob: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    # ---- the networks on raw arrays -----------------------------------------------------------
    def _obs(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(
            (obs.reshape(len(obs), -1) - self.obs_mean) / self.obs_std, dtype=torch.float32
        )

    def shaped(self, obs, action, next_obs, done) -> torch.Tensor:
        h, h_next = (
            self.potential(self._obs(obs)).squeeze(-1),
            self.potential(self._obs(next_obs)).squeeze(-1),
        )
        return shaped_reward(self.logits(obs, action), h, h_next, torch.as_tensor(done), self.discount)

    def log_pi(self, obs: np.ndarray, action: np.ndarray) -> torch.Tensor:
        """The learner's current ``log pi(a|s)`` (PPO binds ``policy_log_prob``; see the module docstring)."""
        if self.policy_log_prob is None:
            raise RewardlabError(
                f"reward {self.name!r}: AIRL's discriminator needs the learner's log pi(a|s), and no policy "
                "was bound; use it as one of PPO's transition_rewards (PPO calls bind_policy), or set "
                "policy_log_prob = a function (obs, actions) -> log-probabilities"
            )
        logp = np.asarray(self.policy_log_prob(obs, action), dtype=np.float64).reshape(-1)
        if logp.shape != (len(obs),):
            raise RewardlabError(
                f"reward {self.name!r}: policy_log_prob returned shape {logp.shape} for {len(obs)} rows"
            )
        return torch.as_tensor(logp, dtype=torch.float32)

    # ---- the reward ---------------------------------------------------------------------------
    @staticmethod
    def ended(batch: Transitions) -> np.ndarray:
        """Where the MDP ended: termination only; a time limit keeps ``h(s')`` (the demonstrations'
        ``dones`` are terminations too, so expert and policy rows are shaped alike)."""
        return batch.done if batch.terminated is None else batch.terminated

    def score(self, batch: Transitions) -> np.ndarray:
        self.check_horizon(batch)
        with torch.no_grad():
            return self.shaped(batch.obs, batch.action, batch.next_obs, self.ended(batch)).double().numpy()

    def discriminator_logits(
        self, batch: Transitions, ir: np.ndarray, ip: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """AIRL's logit ``f - log pi`` on the expert's rows ``ir`` and the rollout's rows ``ip``."""
        expert = self.shaped(
            self.reference_obs[ir],
            self.reference_actions[ir],
            self.reference_next_obs[ir],
            self.reference_dones[ir],
        ) - self.log_pi(self.reference_obs[ir], self.reference_actions[ir])
        policy = self.shaped(
            batch.obs[ip], batch.action[ip], batch.next_obs[ip], self.ended(batch)[ip]
        ) - self.log_pi(batch.obs[ip], batch.action[ip])
        return expert, policy

    def update(self, batch: Transitions) -> dict[str, float]:
        m = self.train_discriminator(batch, reference_positive=True)
        return {"loss": m["loss"], "acc_expert": m["acc_reference"], "acc_policy": m["acc_policy"]}

    # ---- the recovered reward -------------------------------------------------------------------
    def save_recovered(self, path: str | Path) -> Path:
        """Write ``g`` (with its input statistics, and its range over the demonstrations for
        ``airl_recovered``'s ``clip``) and the potential ``h`` (for its ``shaped``) for
        :class:`AIRLRecovered`."""
        path = Path(path)
        with torch.no_grad():
            on_demos = self.logits(self.reference_obs, self.reference_actions)
        torch.save(
            {"reward": self.discriminator.state_dict(), "obs_mean": np.array(self.obs_mean), "obs_std": np.array(self.obs_std),
             "hidden_sizes": [m.out_features for m in self.discriminator if isinstance(m, torch.nn.Linear)][:-1],
             "n_actions": int(self.action_space.n), "use_action": self.use_action,
             "demo_range": (float(on_demos.min()), float(on_demos.max())),
             # h and the shaping discount, for airl_recovered's shaped = true (imitation's
             # "RewardNet_shaped": re-training on f = g + discount h(s') - h(s))
             "potential": self.potential.state_dict(), "discount": self.discount,
             "potential_hidden_sizes": [m.out_features for m in self.potential if isinstance(m, torch.nn.Linear)][:-1]},
            path,
        )  # fmt: skip
        return path


class AIRLRecovered(TransitionReward):
    """AIRL's recovered reward ``g(s, a)``, frozen: scores, never learns (``airl_recovered``).

    ``clip = true`` clips ``g`` to its range over the demonstrations it was recovered from: away
    from them ``g`` is a ReLU net's extrapolation with no data behind it (on CartPole -10 to -18 per
    step once the pole has fallen, against -0.5..+0.3 on the expert's states), which then dominates
    the return. Not in the AIRL paper or imitation; off by default (docs/learned_rewards.md).

    ``shaped = true`` pays the shaped reward ``f = g + discount (1 - terminated) h(s') - h(s)``
    with the frozen potential ``h`` recovered beside ``g`` (what AIRL paid its own policy, minus
    ``log pi``; imitation's ``RewardNet_shaped`` reward type). Potential-based shaping leaves the
    optimal policies of ``g`` unchanged when ``discount`` is the learner's gamma (Ng et al. 1999),
    and makes ``g`` easier to climb from scratch (on CartPole: docs/learned_rewards.md).
    """

    name = "airl_recovered"
    gamma = 0.99
    trainable = False

    def __init__(
        self,
        observation_space: Any,
        action_space: Any,
        *,
        path: str = "",
        num_envs: int = 1,
        seed: int = 0,
        name: str | None = None,
        gamma: float = 0.99,
        coef: float = 1.0,
        clip: bool = False,
        shaped: bool = False,
    ) -> None:
        self.gamma, self.coef = float(gamma), float(coef)
        super().__init__(observation_space, action_space, num_envs=num_envs, seed=seed, name=name)
        self.require_box_observations()
        if not path or not Path(path).is_file():
            raise ConfigError(
                f"reward {self.name!r}: path {path!r} is not a file written by AIRL.save_recovered"
            )
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(action_space, gym.spaces.Discrete) or action_space.n != saved["n_actions"]:
            raise ConfigError(
                f"reward {self.name!r}: {path!r} was recovered for {saved['n_actions']} discrete actions, "
                f"not the action space {action_space}"
            )
        obs_dim = int(np.prod(observation_space.shape))
        self.use_action = bool(saved.get("use_action", True))
        self.net = mlp(obs_dim + saved["n_actions"] * self.use_action, saved["hidden_sizes"], 1, "relu")
        try:
            self.net.load_state_dict(saved["reward"])
        except RuntimeError as e:
            raise ConfigError(
                f"reward {self.name!r}: {path!r} does not fit observations of shape {observation_space.shape} "
                f"({str(e).splitlines()[0]})"
            ) from None
        self.obs_mean, self.obs_std = saved["obs_mean"], saved["obs_std"]
        self.range = saved.get("demo_range") if clip else None
        if clip and self.range is None:
            raise ConfigError(
                f"reward {self.name!r}: clip = true needs g's range over the demonstrations, which {path!r} "
                "lacks (written before save_recovered stored it); save it again or set clip = false"
            )
        self.potential = None
        if shaped:
            if "potential" not in saved:
                raise ConfigError(
                    f"reward {self.name!r}: shaped = true needs the potential h, which {path!r} lacks (written "
                    "before save_recovered stored it); save it again or set shaped = false"
                )
            self.potential = mlp(obs_dim, saved["potential_hidden_sizes"], 1, "relu")
            self.potential.load_state_dict(saved["potential"])
            self.discount = float(saved["discount"])

    def score(self, batch: Transitions) -> np.ndarray:
        x = self._normalise(batch.obs)
        if self.use_action:
            x = np.concatenate(
                [x, np.eye(self.action_space.n)[np.asarray(batch.action, dtype=np.int64).reshape(-1)]], 1
            )
        with torch.no_grad():
            inputs = torch.as_tensor(x, dtype=torch.float32)
            g = self.net(inputs).squeeze(-1).double().numpy()
        if self.range is not None:
            g = np.clip(g, *self.range)
        if self.potential is None:
            return g
        with torch.no_grad():
            h, h_next = (
                self.potential(torch.as_tensor(self._normalise(o), dtype=torch.float32)).squeeze(-1).double()
                for o in (batch.obs, batch.next_obs)
            )
        ended = torch.as_tensor(np.asarray(AIRL.ended(batch), dtype=bool))
        return shaped_reward(torch.from_numpy(g), h, h_next, ended, self.discount).numpy()

    def _normalise(self, obs: np.ndarray) -> np.ndarray:
        return (obs.reshape(len(obs), -1) - self.obs_mean) / self.obs_std
