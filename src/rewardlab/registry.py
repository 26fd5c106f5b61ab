"""Name or import path -> algorithm / environment / task / reward, with errors that say what failed.

Each domain package declares what it provides in plain dicts of import paths
(``ALGORITHMS = {"ppo": "rewardlab.rl.ppo:PPO"}``, ``ENVS = {...}``), so listing names imports
nothing heavy; a class is imported only when it is used.

Wherever a registered name is accepted, the user's own code is accepted too, by import path:

* ``package.module:attr`` (the module is looked up on ``sys.path``, then in the current directory);
* ``path/to/file.py:attr`` (a file; recorded as an absolute path so a resume from another
  directory finds it again).

Gymnasium's own ``module:EnvId`` form (import ``module``, then ``gym.make("EnvId")``) keeps working:
an attribute part that is not a Python identifier (``my_pkg:GridWorld-v0``), or a name the module
does not define but registers with Gymnasium, is an env id.

An object given in Python (``rewardlab.train(env=MyEnv, reward=my_fn)``) is recorded in the run's
``config.toml`` by its import path when it has one (:func:`spec_of`); a lambda, a local function or
anything defined in ``__main__`` has none and is recorded as ``<object KIND NAME>``. Such a run can
be resumed or evaluated only when the object is given again (:func:`provided`); otherwise the
rebuild is refused by name (:class:`UnrebuildableError`), never replaced by a default.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rewardlab.errors import PluginError, RewardlabError, did_you_mean, unknown_name

#: packages whose __init__ declares ALGORITHMS / ENVS dicts of "module:attr" strings
DOMAINS = ("rl", "bandits", "tabular", "llm", "envs", "offline", "agents", "rewards")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"^{_IDENT}(\.{_IDENT})*$")
#: objects given in Python for the current train / load call: recorded spec -> object
_PROVIDED: dict[str, Any] = {}
#: modules loaded from files by this process: module name -> absolute file path
_FILE_MODULES: dict[str, str] = {}


class UnrebuildableError(RewardlabError):
    """A run's config names a Python object that has no import path, and it was not given again."""


# ---------------------------------------------------------------------------------------------
# import paths


def is_object_marker(spec: Any) -> bool:
    return isinstance(spec, str) and spec.startswith("<object ") and spec.endswith(">")


def split_import_path(spec: Any) -> tuple[str, str, bool] | None:
    """``(module or file, attribute, is_file)`` for ``pkg.mod:attr`` / ``path/file.py:attr``; None for
    anything else (registered names, Gymnasium ids, ``module:EnvId-v0``)."""
    if not isinstance(spec, str) or ":" not in spec or is_object_marker(spec):
        return None
    left, _, attr = spec.rpartition(":")
    if not left or not _DOTTED.match(attr):
        return None
    if left.endswith(".py") or "/" in left or os.sep in left:
        return left, attr, True
    if _DOTTED.match(left):
        return left, attr, False
    return None


def is_import_path(spec: Any) -> bool:
    return split_import_path(spec) is not None or is_object_marker(spec)


def _public_names(module: Any) -> list[str]:
    """The names a module defines (not the classes, functions and modules it imports)."""
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]

    def own(value: Any) -> bool:
        if inspect.ismodule(value):
            return False
        if inspect.isclass(value) or inspect.isfunction(value):
            return value.__module__ == module.__name__
        return True

    return sorted([n for n in names if own(getattr(module, n, None))] or names)


def _import_file(file: str, what: str) -> Any:
    path = Path(file).expanduser()
    resolved = path.resolve()
    if not resolved.is_file():
        raise PluginError(
            f"{what}: the file {file!r} does not exist (looked for {resolved}, relative to the current "
            f"directory {os.getcwd()})"
        )
    for name, known in _FILE_MODULES.items():
        if known == str(resolved) and name in sys.modules:
            return sys.modules[name]
    # One module name per file (stem + a hash of the path), so two files named alike do not clash
    # and pickled objects (env snapshots) find their class again after the file is re-imported.
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    name = f"rewardlab_user_{re.sub(r'[^A-Za-z0-9_]', '_', resolved.stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise PluginError(f"{what}: {file!r} cannot be imported as Python source (give a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _FILE_MODULES[name] = str(resolved)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        _FILE_MODULES.pop(name, None)
        raise PluginError(f"{what}: importing {str(resolved)!r} raised {type(e).__name__}: {e}") from e
    return module


def _import_module(name: str, what: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        missing = e.name or name
        if not (name == missing or name.startswith(missing + ".")):
            raise PluginError(
                f"{what}: importing module {name!r} failed: it imports {missing!r}, which is not installed"
            ) from e
        # Not found on sys.path: try the current directory too (a console script does not put it
        # on sys.path, `python -m` does), so the same command works both ways.
        cwd = os.getcwd()
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
            try:
                return importlib.import_module(name)
            except ModuleNotFoundError:
                pass
            finally:
                sys.path.remove(cwd)
        searched = [p or os.getcwd() for p in sys.path] + ([cwd] if cwd not in sys.path else [])
        raise PluginError(
            f"{what}: no module named {missing!r} (searched {', '.join(searched)}). Give an importable "
            f"module ('package.module:attr') or a file ('path/to/file.py:attr')"
        ) from None
    except Exception as e:
        raise PluginError(f"{what}: importing module {name!r} raised {type(e).__name__}: {e}") from e


def _get_attr(module: Any, attr: str, where: str, what: str) -> Any:
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = _public_names(module)
            raise PluginError(
                f"{what}: {where} has no attribute {attr!r}.{did_you_mean(part, names)} Its public names: "
                f"{', '.join(names) or '(none)'}"
            )
        obj = getattr(obj, part)
    return obj


def load_path(spec: str, what: str = "") -> Any:
    """The object an import path names (``pkg.mod:attr``, ``file.py:attr``), or a given object's
    recorded spec; errors say what was given and why it failed (``what`` names the role)."""
    what = what or repr(spec)
    if spec in _PROVIDED:
        return _PROVIDED[spec]
    if is_object_marker(spec):
        raise UnrebuildableError(
            f"{what}: this run was given {spec[1:-1].removeprefix('object ')} as a Python object with no "
            f"import path (a lambda, a local function or something defined in __main__), so it cannot be "
            f"rebuilt here, and rewardlab does not substitute a default. Move it to the top level of a "
            f"module and pass 'package.module:attr' or 'path/to/file.py:attr', or give the object again "
            f"from Python (rewardlab.load(run_dir, ...=obj) / rewardlab.train(..., resume=run_dir, ...=obj))"
        )
    parts = split_import_path(spec)
    if parts is None:
        raise PluginError(f"{what}: {spec!r} is not an import path ('package.module:attr' or 'file.py:attr')")
    left, attr, is_file = parts
    if is_file:
        module = _import_file(left, what)
        return _get_attr(module, attr, f"file {left!r}", what)
    module = _import_module(left, what)
    return _get_attr(module, attr, f"module {left!r}", what)


def load(path: str) -> Any:
    """Import ``"package.module:attr"`` (the registries' own entries; no user-facing messages)."""
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def canonical(spec: str) -> str:
    """The spec as it is recorded: a file path made absolute, anything else unchanged."""
    parts = split_import_path(spec)
    if parts is None or not parts[2]:
        return spec
    return f"{Path(parts[0]).expanduser().resolve()}:{parts[1]}"


def _is_site_module(file: str) -> bool:
    return any(part in ("site-packages", "dist-packages") for part in Path(file).parts) or file.startswith(
        sys.base_prefix
    )


def spec_of(obj: Any) -> str | None:
    """The import path that finds ``obj`` again in another process, or None when there is none
    (lambdas, local functions, objects defined in ``__main__`` or built at run time)."""
    module_name, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or inspect.ismodule(obj):
        # an instance: look for a module-level name bound to it (e.g. a function decorated with @reward)
        for candidate in (getattr(getattr(obj, "func", None), "__module__", None), type(obj).__module__):
            module = sys.modules.get(candidate or "")
            for name, value in vars(module).items() if module is not None else ():
                if value is obj and not name.startswith("_"):
                    return _spec_in_module(module, name)
        return None
    if "<" in qualname:
        return None
    module = sys.modules.get(module_name)
    if module is None:
        return None
    try:
        found = _get_attr(module, qualname, module_name, "")
    except PluginError:
        return None
    return _spec_in_module(module, qualname) if found is obj else None


def _spec_in_module(module: Any, attr: str) -> str | None:
    name = module.__name__
    if name == "__main__":
        # Re-importing a script would run it again, unless its top level only defines things and
        # keeps the work under `if __name__ == "__main__":`; then its file path finds the object.
        file = getattr(module, "__file__", None)
        return f"{Path(file).resolve()}:{attr}" if file and _guarded_script(file) else None
    if name in _FILE_MODULES:
        return f"{_FILE_MODULES[name]}:{attr}"
    file = getattr(module, "__file__", None)
    if file and "." not in name and not _is_site_module(file):
        # A top-level module of the user's (a script's sibling, a test file): its directory may not
        # be on sys.path in the next process, its file path always works.
        return f"{Path(file).resolve()}:{attr}"
    return f"{name}:{attr}"


def _guarded_script(file: str) -> bool:
    """True for a script whose top level has an ``if __name__ == "__main__":`` block."""
    import ast

    try:
        tree = ast.parse(Path(file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            sides = [node.test.left, *node.test.comparators]
            names = {getattr(x, "id", None) for x in sides} | {getattr(x, "value", None) for x in sides}
            if {"__name__", "__main__"} <= names:
                return True
    return False


def record(obj: Any, kind: str) -> str:
    """The spec recorded for an object given in Python: its import path, or ``<object KIND NAME>``
    (resolvable only where the object is given again, see :func:`provided`)."""
    spec = spec_of(obj)
    if spec is None:
        label = getattr(obj, "__qualname__", None) or getattr(obj, "name", None) or type(obj).__name__
        spec = f"<object {kind} {getattr(obj, '__module__', '') or type(obj).__module__}.{label}>"
    return spec


@contextlib.contextmanager
def provided(objects: dict[str, Any]) -> Iterator[None]:
    """Within the block, each recorded spec resolves to the object given in Python (the object itself,
    not a re-import of its module)."""
    saved = dict(_PROVIDED)
    _PROVIDED.update(objects)
    try:
        yield
    finally:
        _PROVIDED.clear()
        _PROVIDED.update(saved)


# ---------------------------------------------------------------------------------------------
# algorithms


def _collect(attr: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for domain in DOMAINS:
        try:
            module = importlib.import_module(f"rewardlab.{domain}")
        except ImportError:
            continue
        out.update(getattr(module, attr, {}))
    return out


def algorithm_names() -> list[str]:
    return sorted(_collect("ALGORITHMS"))


def get_algorithm(name: str) -> type:
    """The Algorithm class registered under ``name`` or at an import path; unknown names suggest the
    closest ones."""
    if is_import_path(name):
        from rewardlab.core.algorithm import Algorithm

        cls = load_path(name, f"algorithm {name!r}")
        if not (inspect.isclass(cls) and issubclass(cls, Algorithm)):
            raise PluginError(
                f"algorithm {name!r} is {_describe(cls)}, not a subclass of rewardlab.core.algorithm.Algorithm"
            )
        return cls
    table = _collect("ALGORITHMS")
    if name not in table:
        raise unknown_name(
            "algorithm", name, table, hint="See `rewardlab list`, or give your own as 'package.module:Class'."
        )
    return load(table[name])


def algorithm_spec(algo: Any) -> str:
    """The name recorded for an algorithm given as a name, an import path or a class."""
    if isinstance(algo, str):
        return canonical(algo)
    from rewardlab.core.algorithm import Algorithm

    if not (inspect.isclass(algo) and issubclass(algo, Algorithm)):
        raise PluginError(
            f"algorithm: got {_describe(algo)}; give a name, an import path or an Algorithm subclass"
        )
    for name, path in _collect("ALGORITHMS").items():
        if path == f"{algo.__module__}:{algo.__qualname__}":
            return name
    return record(algo, "algorithm")


def _describe(obj: Any) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__module__}.{obj.__qualname__}"
    if callable(obj):
        return f"the function {getattr(obj, '__qualname__', obj)!r}"
    text = repr(obj)
    return f"a {type(obj).__name__} ({text[:60] + '...' if len(text) > 60 else text})"


def describe(obj: Any) -> str:
    """A short phrase naming what an object is, for error messages."""
    return _describe(obj)


# ---------------------------------------------------------------------------------------------
# environments


def rewardlab_envs() -> dict[str, str]:
    """Environments rewardlab itself provides (bandits, multi-agent, ...): name -> import path."""
    return _collect("ENVS")


def gymnasium_env_ids() -> list[str]:
    import gymnasium as gym

    return sorted(gym.registry)


def check_env_id(env_id: str, *, kinds: tuple[str, ...] = ("gymnasium", "rewardlab")) -> str:
    """Return ``env_id`` if registered (Gymnasium or rewardlab) or importable (an import path, or
    Gymnasium's ``module:EnvId``); else an error with the closest ids."""
    if is_import_path(env_id) and not _registers_gym_id(env_id):
        load_path(env_id, f"environment {env_id!r}")
        return env_id
    if "gymnasium" in kinds and ":" in env_id:
        _gym_module_form(env_id)
        return env_id
    choices: list[str] = []
    if "rewardlab" in kinds:
        choices += list(rewardlab_envs())
    if "gymnasium" in kinds:
        choices += gymnasium_env_ids()
    if env_id in choices:
        return env_id
    if not env_id:
        raise unknown_name("environment", env_id, choices, hint="Pass one with --env.")
    raise unknown_name(
        "environment",
        env_id,
        choices,
        hint="See `rewardlab list envs`, or give your own as 'package.module:EnvClass' or 'file.py:EnvClass'.",
    )


def _gym_module_form(env_id: str) -> None:
    """Import the module of Gymnasium's ``module:EnvId`` and check that it registered ``EnvId``."""
    import gymnasium as gym

    module, _, name = env_id.partition(":")
    _import_module(module, f"environment {env_id!r}")
    if name not in gym.registry:
        raise unknown_name(
            "environment", name, gym.registry, hint=f"(after importing {module!r}, Gymnasium has no such id)"
        )


def _registers_gym_id(spec: str) -> bool:
    """True for ``module:Name`` where ``module`` defines no ``Name`` but registers it with Gymnasium
    (Gymnasium's own ``module:EnvId`` form with an unversioned id)."""
    parts = split_import_path(spec)
    if parts is None or parts[2] or "." in parts[1]:
        return False
    module = _import_module(parts[0], f"environment {spec!r}")
    if hasattr(module, parts[1]):
        return False
    import gymnasium as gym

    return parts[1] in gym.registry


def _is_gym_env(obj: Any) -> bool:
    import gymnasium as gym

    return isinstance(obj, gym.Env)


def _is_parallel_env(obj: Any) -> bool:
    try:
        from pettingzoo.utils.env import ParallelEnv
    except ImportError:  # PettingZoo not installed: recognise the API by its attributes
        return all(hasattr(obj, a) for a in ("possible_agents", "observation_space", "action_space", "step"))
    return isinstance(obj, ParallelEnv)


def make_env(
    spec: str, *, multi_agent: bool = False, default_time_limit: int | None = None, **kwargs: Any
) -> Any:
    """An environment from a Gymnasium id, Gymnasium's ``module:EnvId``, or an import path to a
    Gymnasium ``Env`` class, a factory returning one, or an instance (copied for each call);
    ``multi_agent`` asks for a PettingZoo ``ParallelEnv`` instead. ``default_time_limit`` adds a time
    limit to an env that has none (it does not shorten an existing one); ``max_episode_steps`` among
    ``kwargs`` is Gymnasium's own (it replaces the registered limit)."""
    import copy

    import gymnasium as gym

    what = f"environment {spec!r}"
    if not is_import_path(spec) or _registers_gym_id(spec):
        if multi_agent:
            raise PluginError(
                f"{what}: a multi-agent environment must be a PettingZoo ParallelEnv import path"
            )
        if ":" in spec:
            _gym_module_form(spec)
        else:
            check_env_id(spec, kinds=("gymnasium",))
        if (
            default_time_limit is not None
            and "max_episode_steps" not in kwargs
            and gym.spec(spec.partition(":")[2] or spec).max_episode_steps is None
        ):
            kwargs["max_episode_steps"] = default_time_limit
        return gym.make(spec, **kwargs)
    limit = kwargs.pop("max_episode_steps", None)  # Gymnasium's meaning: a TimeLimit, not a constructor argument
    obj = load_path(spec, what)
    wanted = "a PettingZoo ParallelEnv" if multi_agent else "a gymnasium.Env"
    is_kind = _is_parallel_env if multi_agent else _is_gym_env
    if is_kind(obj):
        if kwargs:
            raise PluginError(f"{what} is an env instance; it takes no env_kwargs (got {sorted(kwargs)})")
        env = copy.deepcopy(obj)
    elif callable(obj):
        try:
            inspect.signature(obj).bind(**kwargs)
        except TypeError as e:
            raise PluginError(
                f"{what}: {_describe(obj)} cannot be called with env_kwargs {kwargs}: {e}"
            ) from None
        except ValueError:  # no signature (a builtin): let the call say
            pass
        env = obj(**kwargs)
        if not is_kind(env):
            raise PluginError(f"{what}: {_describe(obj)} returned {_describe(env)}, not {wanted}")
    else:
        raise PluginError(f"{what} is {_describe(obj)}; expected {wanted} class, factory or instance")
    if not multi_agent and limit is not None:
        env = gym.wrappers.TimeLimit(env, limit)
    elif not multi_agent and default_time_limit is not None and not _has_time_limit(env):
        env = gym.wrappers.TimeLimit(env, default_time_limit)
    return env


def _has_time_limit(env: Any) -> bool:
    import gymnasium as gym

    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return True
        env = env.env
    return False
