"""Starting, sizing and stopping Ray for a run (the optional ``ray`` extra).

Rules taken from the peers' known failures (docs/scale_out.md has the list):

- Ray is imported only when a config asks for it; without the extra the error says how to install it.
- The resource plan is checked *before* ``ray.init``: actors hold their logical CPUs for life, so a
  plan that cannot place every actor and reward task would otherwise queue forever without an error.
- Every ``ray.get`` in rewardlab goes through :func:`get`, which has a timeout.
- One ``ray.init`` / ``shutdown`` per run: :func:`acquire` starts a local cluster (or joins one) and
  :func:`release` stops it when the last user is done, so nothing is left running after a run, a
  failure or Ctrl-C. A cluster rewardlab joined (``address`` set) is never shut down, only left.
- Telemetry and token files are off for local clusters (Ray 2.60 writes both by default).
"""

from __future__ import annotations

import os
from typing import Any

from rewardlab.errors import ConfigError, RewardlabError

INSTALL_HINT = "Install the extra: pip install 'rewardlab[ray]' (make setup installs it)."

#: seconds a single ray.get may wait before the run stops with a named error
DEFAULT_TIMEOUT_S = 300.0

_users = 0
_started_here = False


def require_ray(what: str) -> Any:
    """Import ray, or raise a ConfigError naming ``what`` asked for it and how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"{what} needs Ray, which is not installed. {INSTALL_HINT}") from None
    return ray


def check_plan(needed_cpus: float, available_cpus: float, what: str) -> None:
    """Refuse a plan whose actors and tasks cannot all be scheduled at once (it would hang)."""
    if needed_cpus > available_cpus + 1e-9:
        raise ConfigError(
            f"{what} needs {needed_cpus:g} logical CPUs on the Ray cluster but it has {available_cpus:g}: "
            "Ray would queue the rest forever. Lower num_workers / reward_workers / worker_num_cpus, or "
            "raise ray_num_cpus (logical CPUs may exceed physical cores)."
        )


def acquire(address: str = "", num_cpus: int = 0, *, needed_cpus: float = 0.0, what: str = "the run") -> Any:
    """Make sure Ray is initialised (local cluster for ``address == ""``, else join ``address``),
    check that ``needed_cpus`` fit, and count one more user. Returns the ``ray`` module."""
    global _users, _started_here
    ray = require_ray(what)
    if not ray.is_initialized():
        if not address:
            cpus = num_cpus or os.cpu_count() or 1
            # Checked before init: a plan that cannot fit must not start a cluster at all.
            check_plan(needed_cpus, cpus, what)
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        _started_here = True
    check_plan(needed_cpus, float(ray.available_resources().get("CPU", 0.0)), what)
    _users += 1
    return ray


def release() -> None:
    """One user is done; the last one shuts down the cluster rewardlab started (or leaves a joined one)."""
    global _users, _started_here
    _users = max(0, _users - 1)
    if _users == 0 and _started_here:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        _started_here = False


def get(refs: Any, timeout_s: float, what: str) -> Any:
    """``ray.get`` with a timeout; a timeout or a dead actor is an error naming ``what``."""
    import ray

    try:
        return ray.get(refs, timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise RewardlabError(
            f"{what} did not answer within {timeout_s:g} s (ray_timeout_s); the run stopped, "
            "its last good checkpoint is kept."
        ) from None
    except ray.exceptions.RayActorError as e:
        cause = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise RewardlabError(
            f"{what} died ({cause}); the run stopped, its last good checkpoint is kept. Resume with --resume."
        ) from None
