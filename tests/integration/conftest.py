"""One local Ray for the whole integration session: 2 CPUs, no dashboard, shut down at
the end. Tests that need it take the `ray_session` fixture; every task and actor they
start must set num_cpus (the machine has 2 cores)."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False, object_store_memory=200 * 1024 * 1024)
    yield ray
    if started_here:
        ray.shutdown()
