"""Make offline datasets by running a policy in a Gymnasium env, and describe them.

``rewardlab data generate`` and ``rewardlab data info`` are thin wrappers of :func:`generate` and
:func:`info`. Splits, in D4RL's words:

- ``random``: uniform-random actions;
- ``policy``: a trained run's deterministic policy (``expert`` or ``medium`` depending on the run),
  optionally with action noise;
- ``mixed``: each episode draws its own epsilon ~ U(0, 1) and takes a random action with that
  probability at every step, otherwise the policy's: returns spread from random to the policy's,
  like a learner's replay (medium-replay) or D4RL's medium-expert mixtures;
- ``replay``: the replay buffer a SAC / TD3 / DDPG / DQN run saved in its newest checkpoint, in the
  order it was collected (D4RL's medium-replay: everything the learner saw up to that point).

Reference scores for ``normalized_score`` follow Minari: ``ref_min_score`` is the random policy's
mean return and ``ref_max_score`` the policy's, each over ``ref_episodes`` fresh seeded episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rewardlab.offline.dataset import DatasetError, OfflineDataset

SPLITS = ("random", "policy", "mixed", "replay")
#: seeds of the reference-score episodes, far from the data's (Minari uses 123 for its estimate)
REF_SEED = 1_000_000


def load_policy(run_dir: str | Path, env_id: str) -> Callable[[np.ndarray], np.ndarray]:
    """The deterministic policy of a rewardlab run's newest checkpoint, as obs batch -> action batch."""
    import torch

    from rewardlab import registry
    from rewardlab.core.run import _prepare_process, checkpoints, load_saved_config

    algo_name, config = load_saved_config(run_dir)
    if config.env != env_id:
        raise DatasetError(f"--policy {run_dir} was trained on {config.env!r}, not on --env {env_id!r}")
    ckpts = checkpoints(run_dir)
    if not ckpts:
        raise DatasetError(f"--policy {run_dir} has no complete checkpoint to load a policy from")
    _prepare_process(config)
    algo = registry.get_algorithm(algo_name)(config)
    algo.load_state_dict(torch.load(ckpts[-1] / "state.pt", map_location="cpu", weights_only=False)["algo"])
    if not hasattr(algo, "predict"):
        raise DatasetError(f"--policy {run_dir}: algorithm {algo_name!r} has no predict(obs) to act with")
    algo.close()  # its training envs are not needed to act
    return algo.predict


def replay_episodes(
    buffer: dict[str, Any], num_envs: int, action_space: gym.Space
) -> list[dict[str, np.ndarray]]:
    """The episodes in a replay buffer's saved state (``rl/buffers.ReplayBuffer.state_dict``).

    Step t of sub-env i sits at row (t * num_envs + i) mod capacity, so each sub-env's stream is
    every num_envs-th row in collection order (oldest first, from ``pos`` once the buffer wrapped).
    A stream splits after each terminated or truncated step; an episode keeps its T observations
    plus the last step's ``next_obs`` (the true final observation). The stream's unfinished tail is
    marked truncated (its final observation is real, so it bootstraps); the oldest episode of a
    wrapped buffer starts mid-way. Box actions are stored in [-1, 1] and mapped back to the bounds."""
    n = len(buffer["rewards"])
    if n == 0:
        raise DatasetError("the run's replay buffer is empty: nothing to make a replay split from")
    if buffer["full"] and n % num_envs:
        raise DatasetError(f"a wrapped buffer of {n} rows does not hold whole steps of {num_envs} envs")
    order = (buffer["pos"] + np.arange(n)) % n if buffer["full"] else np.arange(n)
    actions = buffer["actions"]
    if isinstance(action_space, gym.spaces.Box):
        low, high = action_space.low, action_space.high
        actions = (low + (np.clip(actions, -1, 1) + 1) * 0.5 * (high - low)).astype(action_space.dtype)
    episodes = []
    for i in range(num_envs):
        rows = order[order % num_envs == i]
        ends = (buffer["dones"][rows] > 0) | buffer["truncated"][rows]
        cuts = np.flatnonzero(ends) + 1
        for seg in np.split(rows, cuts):
            if len(seg) == 0:
                continue
            term = buffer["dones"][seg] > 0
            trunc = buffer["truncated"][seg].copy()
            trunc[-1] = trunc[-1] or not term[-1]  # the unfinished tail: cut, not ended
            episodes.append({
                "observations": np.concatenate([buffer["obs"][seg], buffer["next_obs"][seg[-1:]]]),
                "actions": actions[seg], "rewards": buffer["rewards"][seg].astype(np.float64),
                "terminations": term, "truncations": trunc,
            })  # fmt: skip
    return episodes


def oldest_rows(
    buffer: dict[str, Any], steps: int, num_envs: int, what: str = "the buffer"
) -> dict[str, Any]:
    """The ``steps`` oldest rows of a saved buffer, in collection order, as an unwrapped buffer state.

    Cutting a wrapped buffer at ``steps`` without first rotating it would keep the rows from index 0
    on, which are the newest ones, not the oldest."""
    held = len(buffer["rewards"])
    if not 1 <= steps <= held:
        raise DatasetError(f"--steps {steps}: {what} holds {held} transitions; valid: 1..{held}")
    if buffer["full"]:
        if held % num_envs:
            raise DatasetError(
                f"a wrapped buffer of {held} rows does not hold whole steps of {num_envs} envs"
            )
        order = (buffer["pos"] + np.arange(held)) % held
        buffer = {k: (v[order] if isinstance(v, np.ndarray) else v) for k, v in buffer.items()}
    out = {k: (v[:steps] if isinstance(v, np.ndarray) else v) for k, v in buffer.items()}
    return out | {"pos": steps, "full": False}


def load_replay(run_dir: str | Path, env_id: str, steps: int) -> OfflineDataset:
    """The first ``steps`` transitions (collection order, the oldest first) of the replay buffer in a
    run's newest checkpoint: the data the learner had collected by its step ``steps`` (a wrapped
    buffer has lost its oldest rows; then it is the oldest ``steps`` it still holds)."""
    import torch

    from rewardlab.core.run import checkpoints, load_saved_config

    _, config = load_saved_config(run_dir)
    if config.env != env_id:
        raise DatasetError(f"--policy {run_dir} was trained on {config.env!r}, not on --env {env_id!r}")
    ckpts = checkpoints(run_dir)
    if not ckpts:
        raise DatasetError(f"--policy {run_dir} has no complete checkpoint to read a replay buffer from")
    algo_state = torch.load(ckpts[-1] / "state.pt", map_location="cpu", weights_only=False)["algo"]
    if "buffer" not in algo_state:
        raise DatasetError(
            f"--split replay: the run {run_dir} keeps no replay buffer (an on-policy algorithm?)"
        )
    num_envs = int(getattr(config, "num_envs", 1) or 1)
    buffer = oldest_rows(
        algo_state["buffer"], steps, num_envs, f"the replay buffer of {run_dir} ({ckpts[-1].name})"
    )
    env = gym.make(env_id)
    try:
        episodes = replay_episodes(buffer, num_envs, env.action_space)
        spec = env.spec.to_json() if env.spec is not None else None
        return OfflineDataset.from_episodes(
            episodes, env.observation_space, env.action_space, env_spec=spec, name=f"{env_id} replay"
        )
    finally:
        env.close()


def _random_actions(space: gym.Space, rng: np.random.Generator, n: int) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return space.start + rng.integers(0, space.n, size=n)
    if isinstance(space, gym.spaces.Box):
        return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(space.dtype)
    raise DatasetError(f"action space {space} is not supported: generate needs Box or Discrete actions")


def collect(
    env_id: str,
    steps: int,
    policy: Callable[[np.ndarray], np.ndarray] | None,
    split: str,
    *,
    seed: int = 0,
    noise: float = 0.0,
    env_kwargs: dict[str, Any] | None = None,
) -> OfflineDataset:
    """Run ``split``'s behaviour policy for exactly ``steps`` environment steps. Episode i resets
    with seed ``seed + i``; the last episode is cut at the budget and marked truncated (its final
    observation is kept, so it still bootstraps correctly)."""
    if split not in SPLITS or split == "replay":
        raise DatasetError(
            f"unknown split {split!r} to collect; valid: random, policy, mixed (replay reads a run's buffer)"
        )
    if steps < 1:
        raise DatasetError(f"--steps must be >= 1 (got {steps}): that split would be empty")
    if split != "random" and policy is None:
        raise DatasetError(f"split {split!r} needs --policy RUN_DIR (a trained run on {env_id})")
    env = gym.make(env_id, **dict(env_kwargs or {}))
    space = env.action_space
    rng = np.random.default_rng(seed)
    episodes: list[dict[str, np.ndarray]] = []
    total = 0
    while total < steps:
        obs, _ = env.reset(seed=seed + len(episodes))
        epsilon = 1.0 if split == "random" else (rng.uniform() if split == "mixed" else 0.0)
        ep: dict[str, list] = {
            k: [] for k in ("observations", "actions", "rewards", "terminations", "truncations")
        }
        ep["observations"].append(obs)
        while True:
            if rng.uniform() < epsilon:
                action = _random_actions(space, rng, 1)[0]
            else:
                action = np.asarray(policy(np.asarray(obs)[None]))[0]
                action = _add_noise(action, space, noise, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += 1
            truncated = truncated or (total >= steps and not terminated)
            for key, value in zip(
                ("observations", "actions", "rewards", "terminations", "truncations"),
                (obs, action, reward, terminated, truncated),
            ):
                ep[key].append(value)
            if terminated or truncated:
                break
        episodes.append({k: np.asarray(v) for k, v in ep.items()})
    spec = env.spec.to_json() if env.spec is not None else None
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    return OfflineDataset.from_episodes(
        episodes, obs_space, act_space, env_spec=spec, name=f"{env_id} {split}"
    )


def _add_noise(action: np.ndarray, space: gym.Space, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of std ``noise`` x half the action range (Box), or epsilon = ``noise`` (Discrete)."""
    if noise <= 0:
        return action
    if isinstance(space, gym.spaces.Box):
        half = (space.high - space.low) / 2
        return np.clip(
            action + noise * half * rng.standard_normal(action.shape), space.low, space.high
        ).astype(space.dtype)
    if rng.uniform() < noise:
        return _random_actions(space, rng, 1)[0]
    return action


def reference_scores(
    env_id: str,
    policy: Callable[[np.ndarray], np.ndarray] | None,
    episodes: int,
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[float, float | None]:
    """(random policy's mean return, policy's mean return or None) over fresh seeded episodes."""
    from rewardlab.rl.common import evaluate_policy

    space = gym.make(env_id, **dict(env_kwargs or {})).action_space
    rng = np.random.default_rng(REF_SEED)
    low = evaluate_policy(
        env_id, lambda obs: _random_actions(space, rng, len(obs)), episodes, REF_SEED, env_kwargs
    )
    high = (
        None
        if policy is None
        else evaluate_policy(env_id, policy, episodes, REF_SEED, env_kwargs)["mean_return"]
    )
    return low["mean_return"], high


def generate(
    env_id: str,
    split: str,
    steps: int,
    out: str,
    *,
    policy_run: str | Path | None = None,
    seed: int = 0,
    noise: float = 0.0,
    ref_episodes: int = 100,
    root: str | Path | None = None,
) -> Path:
    """Collect a split and write it as Minari dataset ``out``; returns the dataset directory."""
    from rewardlab.envs import register_gymnasium
    from rewardlab.registry import check_env_id

    register_gymnasium()  # rewardlab's own Gymnasium ids (pointmaze-umaze, sparse-grid, ...)
    check_env_id(env_id, kinds=("gymnasium",))
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    if ref_episodes < 1:
        raise DatasetError(f"--ref-episodes must be >= 1, got {ref_episodes}")
    if policy_run == "builtin":
        from rewardlab.offline.experts import EXPERTS

        if env_id not in EXPERTS:
            raise DatasetError(
                f"--policy builtin: no built-in controller for {env_id!r}; built-in: {', '.join(EXPERTS)}"
            )
        policy = EXPERTS[env_id]
    else:
        policy = load_policy(policy_run, env_id) if policy_run is not None else None
    if split == "replay":
        if policy_run is None or policy_run == "builtin":
            raise DatasetError(
                "--split replay needs --policy RUN_DIR: a SAC / TD3 / DDPG / DQN run that saved its buffer"
            )
        data = load_replay(policy_run, env_id, steps)
    else:
        data = collect(env_id, steps, policy, split, seed=seed, noise=noise)
    data.ref_min_score, data.ref_max_score = reference_scores(env_id, policy, ref_episodes)
    source = f"policy {policy_run}" if policy_run is not None else "no policy"
    description = (
        f"rewardlab data generate: env {env_id}, split {split}, {steps} steps, seed {seed}, noise {noise}, "
        f"{source}; ref_min = random policy, ref_max = the policy, {ref_episodes} episodes each"
    )
    return data.to_minari(out, root=root, algorithm_name=f"rewardlab-{split}", description=description)


def info(name_or_path: str | Path, plot: str | Path | None = None) -> dict[str, Any]:
    """Episodes, steps, return statistics and reference scores; with ``plot``, a return histogram PNG."""
    data = OfflineDataset.load(name_or_path)
    returns = data.episode_returns()
    out: dict[str, Any] = {
        "dataset": data.name,
        "env": data.env_id,
        "episodes": data.num_episodes,
        "steps": data.num_steps,
        "return_min": float(returns.min()),
        "return_median": float(np.median(returns)),
        "return_max": float(returns.max()),
        "terminations": int(data.terminations.sum()),
        "truncations": int(data.truncations.sum()),
        "ref_min_score": data.ref_min_score,
        "ref_max_score": data.ref_max_score,
    }
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(returns, bins=min(30, max(5, len(returns) // 3)), color="tab:blue", alpha=0.8)
        for value, label, color in (
            (data.ref_min_score, "ref min", "tab:red"),
            (data.ref_max_score, "ref max", "tab:green"),
        ):
            if value is not None:
                ax.axvline(value, color=color, linestyle="--", label=f"{label} {value:.1f}")
        ax.set_xlabel("episode return")
        ax.set_ylabel("episodes")
        ax.set_title(f"{data.name}: {data.num_episodes} episodes, {data.num_steps} steps")
        if data.ref_min_score is not None or data.ref_max_score is not None:
            ax.legend()
        fig.tight_layout()
        Path(plot).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=100)
        plt.close(fig)
        out["plot"] = str(plot)
    return out
