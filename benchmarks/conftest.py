"""Benchmarks: warm Numba up once before anything is timed, and print one summary table.

Run with `python -m pytest benchmarks -q --benchmark-only` (the default test paths of the
project do not include this directory).
"""

from __future__ import annotations

import pytest

from benchmarks.kernels import TARGET_NS_PER_POSITION, TARGET_VS_NUMPY, TARGET_VS_PYTHON

_RESULTS: list[dict] = []


@pytest.fixture(scope="session", autouse=True)
def warm_kernels() -> None:
    """Compile the kernels (or load them from the cache) and check the NumPy peers agree
    with them, so no timing includes compilation and no ratio compares different work."""
    from benchmarks.kernels import check_peers_agree, warm_up

    warm_up()
    check_peers_agree()


@pytest.fixture
def kernel_report() -> list[dict]:
    """Where a benchmark appends its `benchmarks.kernels.measure` result for the summary."""
    return _RESULTS


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _RESULTS:
        return
    tr = terminalreporter
    tr.section("kernels: ns per position (min of repeats)")
    tr.write_line(f"{'kernel':<14}{'positions':>11}{'numba':>9}{'numpy':>9}{'python':>9}"
                  f"{'x numpy':>9}{'x python':>10}")
    for r in sorted(_RESULTS, key=lambda r: (r["kernel"], r["positions"])):
        tr.write_line(f"{r['kernel']:<14}{r['positions']:>11,}"
                      f"{r['numba_ns_per_position']:>9.2f}{r['numpy_ns_per_position']:>9.2f}"
                      f"{r['python_ns_per_position']:>9.1f}{r['numba_vs_numpy']:>9.1f}"
                      f"{r['numba_vs_python']:>10.0f}")
    tr.write_line(f"targets at 1e6 positions: <= {TARGET_NS_PER_POSITION} ns, "
                  f">= {TARGET_VS_NUMPY:g}x numpy, >= {TARGET_VS_PYTHON:g}x python "
                  "(reported, not asserted)")
