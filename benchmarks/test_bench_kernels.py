"""Numba kernels against their NumPy peers and plain Python, per kernel and size.

pytest-benchmark times the Numba kernel; the NumPy peer and plain Python are timed in the
same test by the shared code in `benchmarks.kernels`, and every figure and ratio goes into
`benchmark.extra_info` (and the summary table at the end). Nothing asserts a time: the
issue's targets are reported in `extra_info["meets_targets"]`.
"""

from __future__ import annotations

import pytest

from benchmarks.kernels import CASES, SIZES, measure
from benchmarks.timing import timings

ROUNDS = 5


@pytest.mark.parametrize("positions", SIZES, ids=lambda n: f"{n:.0e}".replace("+0", ""))
@pytest.mark.parametrize("kernel", list(CASES))
def test_kernel_numba_vs_numpy_vs_python(benchmark, kernel_report, kernel, positions):
    case = CASES[kernel](positions)
    run = case.numba
    benchmark.group = kernel
    benchmark.pedantic(run.fn, setup=lambda: (run.setup(), {}), rounds=ROUNDS,
                       iterations=1, warmup_rounds=1)
    stats = timings(benchmark)
    numba_ns = (stats.min * 1e9 / run.evaluations, stats.median * 1e9 / run.evaluations)

    result = measure(case, repeats=ROUNDS, numba_ns=numba_ns)
    benchmark.extra_info.update(result)
    kernel_report.append(result)
