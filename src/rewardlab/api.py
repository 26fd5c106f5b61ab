"""The Python API: :func:`train` a run, :func:`load` a trained agent, :func:`evaluate` a run or a model.

The CLI is a thin layer over these functions (``rewardlab train`` calls :func:`start_run`, then
``Run.train``), so a run started from Python and one started from the shell are the same run::

    import rewardlab

    run = rewardlab.train("ppo", env="CartPole-v1", total_steps=50_000, out="runs/cartpole")
    print(run.eval["mean_return"], run.metrics[-1]["episode_return_mean"])
    agent = rewardlab.load(run.dir)
    action, _ = agent.predict(obs)           # SB3-like: (action, state)

Objects are accepted wherever the CLI takes names: an env class, factory or instance, a reward
function or Reward, a Task or a list of prompt dicts, an Algorithm subclass. Each is recorded in
``config.toml`` by its import path (see :mod:`rewardlab.registry`), so ``rewardlab train --resume``
and ``rewardlab eval`` rebuild exactly it; an object without one (a lambda, something defined in
``__main__``) is recorded by name and must be given again to resume or load the run.

Importing this module is light (no torch): the heavy modules load when a run starts.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rewardlab import registry
from rewardlab.errors import ConfigError, PluginError, RewardlabError

if TYPE_CHECKING:
    from rewardlab.core.run import Run

#: keyword arguments that name the run's parts, and the config field each is recorded in
PARTS = {"env": "env", "task": "env", "reward": "reward", "model": "model"}


# ---------------------------------------------------------------------------------------------
# recording what defines a run


def _part_spec(kind: str, value: Any, objects: dict[str, Any]) -> Any:
    """The config value recording ``value`` (a name, a path or an object) for the part ``kind``;
    objects are added to ``objects`` so this process resolves the spec to the object itself."""
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if kind == "task" and text.endswith(".jsonl") and ":" not in text:
            return str(Path(text).expanduser().resolve())
        return registry.canonical(text)
    if kind == "reward" and isinstance(value, dict):
        return dict(value)  # a reward spec table
    if kind == "model":
        raise PluginError(
            f"model: got {registry.describe(value)}; give a model name (see `rewardlab list`), a directory "
            f"saved with save_pretrained, or a .gguf file, so that resume and eval can load it again"
        )
    spec = registry.record(value, kind)
    if registry.is_object_marker(spec):
        # Only an object without import path is handed over as itself; one with a path is imported
        # from it, in this process as in a resume, so what the checkpoints pickle (an env instance of
        # a user's class) names a module the next process can import again.
        objects[spec] = value
    return spec


def _task_fields(task: Any, objects: dict[str, Any]) -> dict[str, Any]:
    if isinstance(task, list):
        if not all(isinstance(r, dict) for r in task):
            bad = next(r for r in task if not isinstance(r, dict))
            raise PluginError(f"task: a list of prompts must hold dicts, got {registry.describe(bad)}")
        # Kept inside config.toml (TOML has no null: None values are dropped), so the run is rebuilt
        # from its own directory.
        records = [{k: v for k, v in r.items() if v is not None} for r in task]
        return {"env": "jsonl", "task_params": {"records": records}}
    return {"env": _part_spec("task", task, objects)}


def _config_layers(config: Any) -> list[Any]:
    if config is None:
        return []
    if isinstance(config, list | tuple):
        return list(config)
    return [config]


def _apply_layer(cfg: Any, layer: Any) -> Any:
    from rewardlab.config import apply_overrides, load_toml, to_dict

    if isinstance(layer, str | os.PathLike):
        data = load_toml(layer)
        data.pop("algo", None)
        return apply_overrides(cfg, data, f"config file {os.fspath(layer)!r}")
    if isinstance(layer, dict):
        data = dict(layer)
        data.pop("algo", None)
        return apply_overrides(cfg, data, "the config dict")
    if dataclasses.is_dataclass(layer) and not isinstance(layer, type):
        if isinstance(layer, type(cfg)):
            return dataclasses.replace(layer)
        return apply_overrides(cfg, to_dict(layer), f"the {type(layer).__name__} config")
    raise ConfigError(
        f"config: got {registry.describe(layer)}; give a dict, a config dataclass, a TOML file path, or a list of them"
    )


def _parts(env, task, reward, model, config_fields: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(config fields, objects)`` for the env / task / reward / model arguments."""
    objects: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    if env is not None and task is not None:
        raise ConfigError("give either env= (an environment) or task= (a text task for an LM), not both")
    if env is not None:
        fields["env"] = _part_spec("env", env, objects)
    if task is not None:
        fields.update(_task_fields(task, objects))
    if reward is not None:
        if "reward" not in config_fields:
            raise ConfigError(
                "reward=: this algorithm takes its reward from the environment; a reward object applies to "
                "language-model algorithms (grpo, rloo, dpo)"
            )
        fields["reward"] = _part_spec("reward", reward, objects)
    if model is not None:
        if "model" not in config_fields:
            raise ConfigError("model=: only language-model algorithms (grpo, rloo, dpo) take a model")
        fields["model"] = _part_spec("model", model, objects)
    return fields, objects


def _canonical_fields(overrides: dict[str, Any]) -> dict[str, Any]:
    """Import paths and prompt files given as strings (``--env envs/grid.py:Grid``, ``--env data.jsonl``)
    recorded with absolute files, so a resume or eval from another directory finds them."""
    from rewardlab.tasks import is_jsonl_path

    out = dict(overrides)
    for key in ("env", "reward"):
        if isinstance(out.get(key), str):
            out[key] = registry.canonical(out[key])
    if is_jsonl_path(out.get("env")):  # a task given as a file of prompts
        out["env"] = str(Path(out["env"]).expanduser().resolve())
    model = out.get("model")
    if isinstance(model, str) and model and Path(model).expanduser().exists():  # a directory or .gguf file
        out["model"] = str(Path(model).expanduser().resolve())
    return out


def _canonical_config(cfg: Any) -> Any:
    """The config with its env / reward / model recorded as :func:`_canonical_fields` does, whichever
    layer (TOML file, dict, dataclass, argument) set them."""
    fields = {k: getattr(cfg, k) for k in ("env", "reward", "model") if hasattr(cfg, k)}
    changed = {k: v for k, v in _canonical_fields(fields).items() if v != fields[k]}
    return dataclasses.replace(cfg, **changed) if changed else cfg


# ---------------------------------------------------------------------------------------------
# threads


def free_cores() -> tuple[int, float]:
    """``(free cores, 1-minute load)``: cores not busy with other processes right now."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, cores - round(load)), load


def thread_warning(num_threads: int) -> str | None:
    """A warning when the configured torch threads exceed the free cores: OpenMP threads that wait
    for a busy core spin, which measured 20x slower here (DESIGN.md, Threads). The default itself
    never depends on the load, so two identical commands resolve the same config."""
    free, load = free_cores()
    if num_threads <= free:
        return None
    return (
        f"num_threads={num_threads} exceeds the {free} free core(s) of {os.cpu_count()} (1-minute load "
        f"{load:.1f}); torch threads waiting for a busy core spin and can be many times slower. Set "
        f"num_threads={free} (--set num_threads={free}) unless the load is about to drop."
    )


# ---------------------------------------------------------------------------------------------
# train


def start_run(
    algo: Any,
    *,
    env: Any = None,
    task: Any = None,
    reward: Any = None,
    model: Any = None,
    config: Any = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    console: Any = None,
    **overrides: Any,
) -> Run:
    """A started (or resumed) Run, not yet trained: what :func:`train` and ``rewardlab train`` share.

    Objects given for env / task / reward / algo resolve to themselves only while
    :func:`registry.provided` holds them (see :func:`train`)."""
    from rewardlab.config import apply_overrides
    from rewardlab.core.run import Run, load_saved_config

    name = registry.algorithm_spec(algo)
    objects: dict[str, Any] = {name: algo} if registry.is_object_marker(name) else {}
    with registry.provided(objects):
        cls = registry.get_algorithm(name)  # an unknown name fails here, with did-you-mean, before any work
    field_names = [f.name for f in dataclasses.fields(cls.config_class)]
    fields, part_objects = _parts(env, task, reward, model, field_names)
    objects.update(part_objects)
    # prompt dicts given as task= join any other task parameters (test_fraction, ...) in task_params
    records = fields.pop("task_params", None)
    overrides = _canonical_fields({**fields, **overrides})

    with registry.provided(objects):
        if resume is not None:
            saved_algo, _ = load_saved_config(resume)
            if saved_algo != name:
                raise RewardlabError(
                    f"--resume {resume}: that run was trained with {saved_algo!r}, not {name!r}; "
                    f"use `rewardlab train {saved_algo} --resume {resume}`"
                )
            changes: dict[str, Any] = {}
            for layer in _config_layers(config):
                if isinstance(layer, str | os.PathLike | dict):
                    from rewardlab.config import load_toml

                    data = load_toml(layer) if not isinstance(layer, dict) else dict(layer)
                    data.pop("algo", None)
                    changes.update(data)
                else:
                    raise ConfigError(
                        "resume: give config changes as a dict or TOML file, not a config object"
                    )
            changes.update(overrides)
            if records is not None:
                changes["task_params"] = {**changes.get("task_params", {}), **records}
            run = Run.resume(Path(resume).expanduser().absolute(), changes, out=out, console=console)
        else:
            cfg = cls.config_class()
            for layer in _config_layers(config):
                cfg = _apply_layer(cfg, layer)
            if overrides:
                cfg = apply_overrides(cfg, overrides, "the arguments")
            if records is not None:
                cfg = dataclasses.replace(cfg, task_params={**cfg.task_params, **records})
            cfg = _canonical_config(cfg)
            validate = getattr(cfg, "validate", None)
            if callable(validate):
                validate()
            if not cfg.env and "data" not in field_names:  # DPO trains on `data`; its env is optional
                raise RewardlabError(
                    f"no environment given: pass --env (see `rewardlab list envs`) for {name}"
                )
            # absolute, so run.dir / run.eval stay right after the caller changes directory
            run = Run.start(name, cfg, Path(out).expanduser().absolute() if out else None, console=console)
    run.objects = objects  # what train() holds in registry.provided while the run trains
    note = thread_warning(run.config.num_threads)
    if note:
        run.log_event(f"WARNING {note}")
        if console is not None:
            console.print(f"[yellow]warning:[/] {note}")
        else:
            warnings.warn(note, stacklevel=3)
    return run


def train(
    algo: Any,
    *,
    env: Any = None,
    task: Any = None,
    reward: Any = None,
    model: Any = None,
    config: Any = None,
    out: str | Path | None = None,
    progress: bool = True,
    resume: str | Path | None = None,
    **overrides: Any,
) -> Run:
    """Train ``algo`` (a name such as ``"ppo"``, an import path, or an Algorithm subclass) and return
    the finished :class:`~rewardlab.core.run.Run` (``.dir``, ``.metrics``, ``.eval``).

    ``env``: a Gymnasium id, an import path, or a Gymnasium ``Env`` class / factory / instance (a
    PettingZoo ``ParallelEnv`` for the independent learners). ``task`` (LM algorithms): a task name,
    a ``.jsonl`` file, a ``Task`` or a list of prompt dicts ``{"prompt", "reference", ...}``.
    ``reward`` (LM algorithms): a reward name, an import path, a ``Reward``, a TRL reward function
    ``f(prompts, completions, **columns)`` or a function of one ``Sample``. ``model``: a model name,
    directory or .gguf file. ``config``: a dict, a config dataclass, a TOML file, or a list of them
    (applied in order); ``overrides`` (``total_steps=...``, ``seed=...``, any config key) come last.
    ``resume``: continue that run directory instead (objects given again resolve its recorded names).
    """
    run = start_run(
        algo,
        env=env,
        task=task,
        reward=reward,
        model=model,
        config=config,
        out=out,
        resume=resume,
        **overrides,
    )
    with registry.provided(run.objects):
        run.train(progress=progress)
    return run


# ---------------------------------------------------------------------------------------------
# load and evaluate


class Agent:
    """A trained agent loaded from a run directory's newest checkpoint (see :func:`load`)."""

    def __init__(
        self, run_dir: Path, algo_name: str, config: Any, algo: Any, checkpoint: Path, objects: dict
    ):
        self.run_dir, self.algo_name, self.config, self.algo = run_dir, algo_name, config, algo
        self.checkpoint, self._objects = checkpoint, objects

    def __repr__(self) -> str:
        return f"Agent({self.algo_name} on {self.config.env!r}, step {self.step}, {str(self.run_dir)!r})"

    @property
    def step(self) -> int:
        return self.algo.global_step

    @property
    def observation_space(self) -> Any:
        envs = getattr(self.algo, "envs", None)
        if envs is not None:
            return envs.single_observation_space
        env = getattr(self.algo, "env", None)
        return getattr(env, "observation_space", None)

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True
    ):
        """``(action, None)`` as Stable-Baselines3 returns it: the action the run's own evaluation takes
        for ``observation`` (one observation, or a batch with a leading dimension). Only the greedy
        (deterministic) policy is available: it is what rewardlab evaluates."""
        import numpy as np

        if not deterministic:
            raise RewardlabError(
                f"{self.algo_name}: predict(deterministic=False) is not available; rewardlab agents predict "
                f"the greedy policy that their evaluation uses"
            )
        act = getattr(self.algo, "predict", None)
        if act is None:
            raise RewardlabError(
                f"a {self.algo_name} agent has no predict(); "
                + ("use generate(prompts) for a language-model run" if hasattr(self.algo, "policy") else "")
            )
        if observation is None:  # a k-armed bandit has no context
            with registry.provided(self._objects):
                return act(None), None
        obs = np.asarray(observation)
        space = self.observation_space
        single = space is not None and obs.shape == tuple(space.shape or ())
        with registry.provided(self._objects):
            actions = act(obs[None] if single else obs)
        return (actions[0] if single else actions), None

    def generate(self, prompts: Sequence[Any], max_new_tokens: int | None = None) -> list[str]:
        """Greedy completions of an LM run's policy for text prompts (or chat message lists)."""
        policy = getattr(self.algo, "policy", None)
        if policy is None or not hasattr(policy, "generate"):
            raise RewardlabError(
                f"a {self.algo_name} agent is not a language model; use predict(observation)"
            )
        if isinstance(prompts, str):
            prompts = [prompts]
        n = max_new_tokens or getattr(self.config, "max_completion_length", 256)
        ids, mask = policy.encode_prompts(list(prompts))
        return policy.decode(policy.generate(ids, mask, max_new_tokens=n, greedy=True))

    def evaluate(self, episodes: int | None = None, **lm: Any) -> dict[str, Any]:
        """The run's own evaluation (the same function training ends with): ``episodes`` greedy episodes
        (default ``eval_episodes``), or for an LM run ``split``, ``limit``, ``task``, ``task_params``."""
        from rewardlab.core.run import evaluate_algorithm

        with registry.provided(self._objects):
            return {"step": self.step, **evaluate_algorithm(self.algo, self.config, episodes, **lm)}

    def close(self) -> None:
        self.algo.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _given_again(run_dir: Path, given: dict[str, Any]) -> dict[str, Any]:
    """Map the specs recorded in ``run_dir``'s config to the objects given again for them."""
    from rewardlab.config import load_toml

    saved = load_toml(Path(run_dir) / "config.toml") if (Path(run_dir) / "config.toml").is_file() else {}
    objects: dict[str, Any] = {}
    for kind, obj in given.items():
        if obj is None:
            continue
        key = "algo" if kind == "algo" else PARTS.get(kind)
        if key is None:
            raise ConfigError(f"load: unknown keyword {kind!r}; valid: algo, env, task, reward")
        spec = registry.algorithm_spec(obj) if kind == "algo" else registry.record(obj, kind)
        if saved.get(key) != spec:
            raise ConfigError(
                f"load: the run in {str(run_dir)!r} was trained with {key} = {saved.get(key)!r}; the {kind} "
                f"given ({registry.describe(obj)}) is recorded as {spec!r}. Give the same object, or none"
            )
        objects[spec] = obj
    return objects


def load(
    run_dir: str | Path, *, algo: Any = None, env: Any = None, task: Any = None, reward: Any = None
) -> Agent:
    """The trained agent of ``run_dir`` (its newest checkpoint): ``predict(obs)`` for RL, tabular and
    bandit runs, ``generate(prompts)`` for LM runs, ``evaluate()`` for all.

    ``algo`` / ``env`` / ``task`` / ``reward`` give again an object the run recorded without an import
    path (a lambda, something defined in ``__main__``); a run that needs one and does not get it is
    refused by name."""
    from rewardlab.core.run import restore

    run_dir = Path(run_dir)
    objects = _given_again(run_dir, {"algo": algo, "env": env, "task": task, "reward": reward})
    with registry.provided(objects):
        algo_name, config, built, ckpt = restore(run_dir)
    return Agent(run_dir, algo_name, config, built, ckpt, objects)


def evaluate(
    target: str | Path,
    episodes: int | None = None,
    *,
    task: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    task_params: dict[str, Any] | None = None,
    num_threads: int | None = None,
    best_of: int | None = None,
    reward: str | None = None,
) -> dict[str, Any]:
    """``rewardlab eval``: a run directory's newest checkpoint (the run's own evaluation), or a base
    language model given by name / directory / .gguf file on ``task``. With ``best_of`` N (LM only),
    N samples per prompt and the one ``reward`` scores highest (a reward name, import path or trained
    reward model's directory), scored by the task's reward (:mod:`rewardlab.llm.best_of_n`)."""
    if best_of is not None or reward is not None:
        return _evaluate_best_of(
            target, best_of, reward, task, split, limit, episodes, task_params, num_threads
        )
    target_path = Path(target)
    if (target_path / "config.toml").is_file():
        from rewardlab.core.run import evaluate_run

        lm = {"split": split, "limit": limit, "task": task, "task_params": task_params}
        return evaluate_run(target_path, episodes, num_threads=num_threads, **lm)
    if task is None:
        raise RewardlabError(
            f"{str(target)!r} is not a rewardlab run directory (it has no config.toml); to evaluate a "
            f"language model by name or path, also give --task (e.g. --task arithmetic)"
        )
    from rewardlab.llm.evaluate import evaluate_model

    return evaluate_model(
        str(target),
        task,
        split=split or "test",
        limit=limit if limit is not None else episodes,
        task_params=task_params,
        num_threads=num_threads,
    )


def _evaluate_best_of(
    target, n, reward, task, split, limit, episodes, task_params, num_threads
) -> dict[str, Any]:
    if n is None or reward is None:
        raise ConfigError(
            "--best-of N and --reward NAME go together: N samples per prompt, the one REWARD scores highest "
            f"is kept (got --best-of {n!r}, --reward {reward!r})"
        )
    from rewardlab.llm.best_of_n import evaluate_best_of_n
    from rewardlab.llm.evaluate import make_task
    from rewardlab.tasks.base import build_reward

    select = build_reward(reward)  # first: a bad reward name or path fails before any model loads
    limit = limit if limit is not None else episodes
    if (Path(target) / "config.toml").is_file():
        from rewardlab.core.run import restore

        changes = {"num_threads": num_threads} if num_threads is not None else {}
        _, config, algo, _ = restore(target, **changes)
        try:
            if not hasattr(algo, "policy"):
                raise RewardlabError(
                    f"--best-of: {str(target)!r} is a {type(algo).__name__} run; best-of-N selection samples "
                    f"completions, so it applies to language-model runs (grpo, rloo, dpo)"
                )
            the_task = make_task(task, config.seed, task_params or {}) if task else algo.task
            if the_task is None:
                raise RewardlabError(f"--best-of: the run {str(target)!r} has no task; pass --task NAME")
            # the run's own training reward judges the picks (the task's, unless the run set another)
            true_reward = None if task else algo.reward
            return evaluate_best_of_n(
                algo.policy, the_task, select, n, true_reward=true_reward, split=split or "test", limit=limit,
                max_new_tokens=getattr(config, "max_completion_length", 256),
                temperature=getattr(config, "temperature", 1.0), seed=config.seed,
            )  # fmt: skip
        finally:
            algo.close()
    if task is None:
        raise RewardlabError(
            f"{str(target)!r} is not a rewardlab run directory (it has no config.toml); to evaluate a "
            f"language model by name or path, also give --task (e.g. --task arithmetic)"
        )
    import torch

    from rewardlab.llm.policy import Policy, PolicyConfig

    cfg = PolicyConfig(model=str(target), lora_r=0)
    if num_threads is not None:
        cfg.num_threads = num_threads
    cfg.validate()
    torch.set_num_threads(cfg.num_threads)
    the_task = make_task(task, 0, task_params or {})
    policy = Policy.from_config(cfg)
    return evaluate_best_of_n(policy, the_task, select, n, split=split or "test", limit=limit)
