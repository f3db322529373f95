"""What the pytest-benchmark tests read from the `benchmark` fixture after timing."""

from __future__ import annotations

from typing import Any

import pytest


def timings(benchmark: Any) -> Any:
    """The timed rounds' statistics (`.min`, `.median`, ...). Under `--benchmark-disable`
    the benchmarked code ran once (its own checks included) and nothing was timed, so
    there is no figure or ratio to report: the test is skipped, saying so."""
    stats = benchmark.stats
    if stats is None:
        pytest.skip("timing disabled (--benchmark-disable): the code ran once, "
                    "no figures to report")
    return stats.stats
