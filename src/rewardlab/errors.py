"""Errors that reach the user. The CLI prints their message (no traceback) and exits non-zero."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RewardlabError(Exception):
    """A problem with the user's input or run directory; the message says what and how to fix it."""

    exit_code = 2


class ConfigError(RewardlabError):
    """An unknown config key, a value of the wrong type, or a contradiction with a saved run."""


class UnknownNameError(RewardlabError):
    """An algorithm, environment, task or reward name that is not registered."""


class PluginError(ConfigError):
    """User code given by import path (an algorithm, env, task or reward) that cannot be used: its
    module or file is missing, it lacks the attribute, or it is the wrong kind of object."""


class NonFiniteError(RewardlabError):
    """A loss, metric or parameter became NaN or infinite; the run stopped at its last good checkpoint."""

    exit_code = 3


class RunWriteError(RewardlabError):
    """A file of a run directory could not be written (full disk, size limit, permission); names the
    file, and what is still intact. Nothing partial is left behind."""

    exit_code = 4


class RunLockedError(RewardlabError):
    """Another live process is writing the run directory (the message names its pid)."""


class CorruptCheckpointError(RewardlabError):
    """A checkpoint whose files do not match the size and sha256 recorded when it was saved."""


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """' Did you mean: a, b?' for the closest choices (case-insensitive), or '' when none is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean: " + ", ".join(lowered[c] for c in close) + "?"


def unknown_name(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the standard 'unknown X' error: names the input and suggests the closest valid names."""
    choices = sorted(choices)
    msg = f"unknown {kind} {name!r}.{did_you_mean(name, choices)}"
    if len(choices) <= 40:
        msg += f" Valid {kind}s: {', '.join(choices)}."
    if hint:
        msg += f" {hint}"
    return UnknownNameError(msg)
