"""The history store's ingest and analytics, with their peers timed in the same test.

pytest-benchmark times ours: `Store.insert` of 10 million synthetic ticks, the SPY day's
parse and write, and the analytics set over 10 million fills. The peers (naive
row-by-row INSERTs, pandas read_csv plus DuckDB's DataFrame insert) are timed in the same
test by the shared code in `benchmarks.store`; every figure and ratio goes into
`benchmark.extra_info`. Nothing asserts a time: the targets are reported in
`extra_info["meets_target"]`. Store files live in a temporary directory deleted after
each test.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from benchmarks.store import (
    BATCH_ROWS,
    FILLS,
    FINGERPRINT,
    NAIVE_ROWS,
    TARGET_ANALYTICS_S,
    TARGET_INGEST_TICKS_PER_S,
    TICKS,
    analytics_parts,
    import_checkpointed,
    ingest,
    naive_insert,
    pandas_peer,
    python_rows,
    synthetic_ticks,
    write_journal,
)
from benchmarks.timing import timings
from data.importers import read_lean_trades
from data.store import Store
from tests.refdata import refdata_path

ROUNDS = 3


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="phalanx-bench-store-") as tmp:
        yield Path(tmp)


def _fresh_stores(workdir: Path, prefix: str):
    """A pedantic `setup` opening a new store per round (closing the previous one), and
    the list of what it opened."""
    opened: list[Store] = []

    def open_next() -> Store:
        if opened:
            opened[-1].close()
        opened.append(Store.open(workdir / f"{prefix}-{len(opened)}.duckdb"))
        return opened[-1]

    return open_next, opened


def test_ingest_of_10m_synthetic_ticks_against_naive_row_by_row_inserts(benchmark, workdir):
    columns = synthetic_ticks(TICKS)
    open_next, opened = _fresh_stores(workdir, "ingest")
    benchmark.group = "store ingest"
    benchmark.pedantic(ingest, setup=lambda: ((open_next(), columns, BATCH_ROWS), {}),
                       rounds=ROUNDS, iterations=1)
    opened[-1].close()
    assert sum(1 for _ in workdir.glob("ingest-*.duckdb")) == ROUNDS

    rows = python_rows(columns, NAIVE_ROWS)
    with Store.open(workdir / "naive.duckdb") as store:
        start = time.perf_counter()
        naive_insert(store, rows)
        naive_rate = len(rows) / (time.perf_counter() - start)
        assert store.count("ticks") == len(rows)
    rate = TICKS / timings(benchmark).min
    benchmark.extra_info.update(
        ticks=TICKS, batch_rows=BATCH_ROWS, ingest_ticks_per_s=rate, naive_rows=len(rows),
        naive_ticks_per_s=naive_rate, ratio_vs_naive=rate / naive_rate,
        meets_target=rate >= TARGET_INGEST_TICKS_PER_S)


def test_spy_day_parse_and_write_against_pandas_read_and_duckdb_insert(benchmark, workdir):
    spy = refdata_path("20131008_trade.zip")
    parsed = read_lean_trades(spy)
    parse_s = min(_seconds(lambda: read_lean_trades(spy)) for _ in range(ROUNDS))
    open_next, opened = _fresh_stores(workdir, "spy")
    benchmark.group = "store SPY day"
    benchmark.pedantic(import_checkpointed, setup=lambda: ((open_next(), parsed), {}),
                       rounds=ROUNDS, iterations=1)
    expected = opened[-1].rows(FINGERPRINT)
    opened[-1].close()

    pandas_peer(spy, workdir / "pandas-check.duckdb", expected)    # same table as ours
    read_s, insert_s = min((pandas_peer(spy, workdir / f"pandas-{k}.duckdb")
                            for k in range(ROUNDS)), key=sum)
    n = len(parsed)
    write_s = timings(benchmark).min
    ours, peer = n / (parse_s + write_s), n / (read_s + insert_s)
    benchmark.extra_info.update(
        spy_ticks=n, spy_parse_ticks_per_s=n / parse_s, spy_write_ticks_per_s=n / write_s,
        spy_ingest_ticks_per_s=ours, pandas_ticks_per_s=peer,
        pandas_read_s=read_s, pandas_insert_s=insert_s, ratio_vs_pandas=ours / peer)


def test_analytics_set_over_10m_fills(benchmark, workdir):
    source, parts = analytics_parts()
    with Store.open(workdir / "journal.duckdb") as store:
        run = write_journal(store, FILLS, summarize=False)
        summary_s = _seconds(lambda: store.summarize_run(run))   # what end_run adds
        warm = write_journal(store, 200)

        def analyse(run_id: str) -> dict[str, float]:
            return {name: _seconds(lambda fn=fn: fn(store, run_id)) for name, fn in
                    parts.items()}

        analyse(warm)                                     # Numba and code paths, untimed
        benchmark.group = "store analytics"
        parts_s = benchmark.pedantic(analyse, args=(run,), rounds=1, iterations=1)
        assert store.count("fills", run) == FILLS
    total = timings(benchmark).min
    benchmark.extra_info.update(fills=FILLS, analytics_source=source, analytics_s=total,
                                analytics_parts_s=parts_s, run_summary_s=summary_s,
                                meets_target=total < TARGET_ANALYTICS_S)


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
