"""Sweep batches as Ray tasks, on a local Ray this command starts or on a cluster.

The bars (or ticks) and the sweep's settings go into the object store once (`ray.put`);
every task gets the two references and a batch of (set_index, params), so a task ships
only its parameter sets. Each task asks for one CPU and runs Numba on one thread (the
tasks themselves fill the cores). Results come back in the order tasks finish
(`ray.wait`), so the driver writes each batch as soon as it is done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import ray
from ray.exceptions import RayError

from actors.backtest_data import BarSeries, TickSeries
from actors.sweep_run import SweepSpec, run_batch

Batch = list[tuple[int, Mapping[str, Any]]]


def _task(spec: SweepSpec, data: BarSeries | TickSeries, batch: Batch) -> list[dict]:
    if spec.path == "fast":
        import numba
        numba.set_num_threads(1)        # one CPU per task: the tasks fill the cores
    return run_batch(spec, data, batch)


# Defined once (never per call); a task that dies with its worker is retried once before
# its sets are recorded as lost. Sets are pure functions of their inputs: a rerun is safe.
_remote_batch = ray.remote(num_cpus=1, max_retries=1)(_task)


class RayExecutor:
    """Connects to (or starts) Ray; `map` runs batches as tasks. Use as a context manager:
    it shuts down only a Ray it started itself."""

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 dashboard: bool = False) -> None:
        started = time.perf_counter()
        self._owned = not ray.is_initialized()
        self.dashboard_url: str | None = None
        if self._owned:
            if address:
                ctx = ray.init(address=address, logging_level=logging.WARNING,
                               log_to_driver=False)
            else:
                ctx = ray.init(num_cpus=num_cpus, include_dashboard=dashboard,
                               logging_level=logging.WARNING, log_to_driver=False)
            self.dashboard_url = (ctx.dashboard_url or None) if dashboard else None
        self.start_s = time.perf_counter() - started
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.address = address or "local"

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned and ray.is_initialized():
            ray.shutdown()
            self._owned = False

    def map(self, spec: SweepSpec, data: BarSeries | TickSeries, work: list[Batch]
            ) -> Iterator[tuple[Batch, list[dict] | BaseException]]:
        if not work:
            return
        spec_ref, data_ref = ray.put(spec), ray.put(data)
        pending = {_remote_batch.remote(spec_ref, data_ref, batch): batch for batch in work}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                batch = pending.pop(ref)
                try:
                    rows: list[dict] | BaseException = ray.get(ref)   # ready: no waiting
                except RayError as exc:
                    rows = exc
                yield batch, rows
        finally:                       # interrupted: stop what is still queued or running
            for ref in pending:
                ray.cancel(ref, force=True)

