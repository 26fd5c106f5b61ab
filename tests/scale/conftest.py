"""One local Ray cluster for all Ray tests (4 logical CPUs on 2 cores, as verl's CPU tests do),
started once per session by the first test that asks for it; those tests skip with the reason when
the ``ray`` extra is not installed. Tests here that need no Ray run without it."""

import os

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'rewardlab[ray]')")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()
