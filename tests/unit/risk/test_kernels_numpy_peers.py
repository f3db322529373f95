"""The benchmark's NumPy peers compute exactly what the kernels compute, edge cases
included, so the benchmark's ratios compare the same work."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.kernels import check_peers_agree, trail_and_exit_percent_np
from risk.kernels import earliest_deadline, trail_and_exit_percent_nb
from tests.unit.risk.test_kernels_exits import (
    PERCENT_ORDER,
    SEC,
    SETTINGS,
    _resized,
    percent_rows,
    price_paths,
    rows_to_arrays,
)


@SETTINGS
@given(rows=percent_rows, paths=price_paths, t0=st.integers(-20 * SEC, 300 * SEC),
       hinted=st.booleans())
def test_the_numpy_percent_exit_peer_matches_the_kernel(rows, paths, t0, hinted):
    kernel, peer = rows_to_arrays(rows), rows_to_arrays(rows)
    hint = (np.int64(earliest_deadline(kernel["deadline_ns"])),) if hinted else ()
    for tick, prices in enumerate(_resized(paths, len(rows))):
        now = t0 + tick * 40 * SEC
        px = np.array(prices)
        a = trail_and_exit_percent_nb(*[kernel[k] for k in PERCENT_ORDER], px, now, *hint)
        b = trail_and_exit_percent_np(*[peer[k] for k in PERCENT_ORDER], px, now, *hint)
        assert a.tolist() == b.tolist()
        np.testing.assert_array_equal(kernel["best"], peer["best"])
        np.testing.assert_array_equal(kernel["trail_stop"], peer["trail_stop"])


def test_the_benchmark_peers_agree_with_the_kernels_on_its_workloads():
    check_peers_agree(2_000)
