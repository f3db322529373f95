"""The analytics summary written when a run ends: the same figures as measured from the
journal, used only while the journal is the one it was measured on, and absent from runs
of older files (which migrate and are measured from the journal)."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from data.analytics import GROUPINGS, analyze, latency
from data.schema import MIGRATIONS, SCHEMA_VERSION
from data.store import Store
from tests.unit.data.test_analytics import (
    DAY,
    check,
    hand_events,
    numpy_expected,
    write_random_run,
)

BYS = (None, *GROUPINGS)


def same_bits(a: object, b: object) -> bool:
    """Dataclasses equal field by field, NaN equal to NaN."""
    for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True):
        if not (x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))):
            return False
    return True


def write_hand(store: Store, run_id: str = "hand") -> str:
    run = store.begin_run("backtest", {}, run_id=run_id)
    store.write_events(run, hand_events())
    store.insert("equity", {
        "run_id": run, "account_id": np.array(["A"] * 5 + ["B"] * 5, dtype=object),
        "ts_ns": np.tile(np.arange(5) * DAY, 2),
        "equity": np.array([100, 110, 99, 99, 108.9] + [100.0] * 5)})
    store.insert("latency", {"run_id": run, "hop": "h", "ts_ns": np.arange(3),
                             "ns": np.array([5, 1, 9])})
    return run


def summarised(store: Store, run_id: str) -> bool:
    return store.count("run_summaries", run_id) == 1


def test_ending_a_run_writes_its_summary_with_every_grouping(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        run = write_hand(store)
        assert not summarised(store, run)
        store.end_run(run)
        assert summarised(store, run)
        groups = store.rows("SELECT grouping, count(*) FROM run_summary_groups "
                            "GROUP BY ALL ORDER BY 1")
        assert groups == [("account", 2), ("run", 1), ("strategy", 2), ("symbol", 2)]
        assert store.count("run_summary_latency", run) == 1


def test_a_summarised_run_gives_exactly_the_figures_measured_from_its_journal(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        run = write_hand(store)
        store.end_run(run)
        for by in BYS:
            for ppy in (None, 252.0):
                read = analyze(store, run, by, periods_per_year=ppy)
                measured = analyze(store, run, by, periods_per_year=ppy, summary=False)
                assert [g.key for g in read] == [g.key for g in measured]
                assert all(same_bits(a, b) for a, b in zip(read, measured, strict=True))
        assert latency(store, run) == latency(store, run, summary=False)


def test_rows_appended_after_the_end_make_the_summary_stale(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        run = write_hand(store)
        store.end_run(run)
        before = analyze(store, run)[0]
        store.insert("trades", {"run_id": run, "account_id": "A", "symbol": "X",
                                "entry_ts_ns": np.array([15 * DAY // 4]),
                                "exit_ts_ns": np.array([16 * DAY // 4]),
                                "gross_pnl": np.array([100.0]), "fees": np.array([0.0])})
        store.insert("latency", {"run_id": run, "hop": "h", "ts_ns": 9, "ns": 1000})
        after = analyze(store, run)[0]
        assert (before.trades, after.trades) == (4, 5)
        assert after.net_pnl == pytest.approx(before.net_pnl + 100)
        assert latency(store, run)[-1].count == 4
        assert store.summarize_run(run)                   # current again
        assert same_bits(analyze(store, run)[0], after)


def test_a_redefined_instrument_makes_the_summary_stale(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        run = write_hand(store)
        store.end_run(run)
        assert analyze(store, run)[0].traded_notional == pytest.approx(725.0)
        store.rows("INSERT OR REPLACE INTO instruments (symbol, multiplier) VALUES ('X', 2)")
        assert analyze(store, run)[0].traded_notional == pytest.approx(725.0 + 314.0)


def test_ending_without_a_summary_leaves_the_run_measured_from_its_journal(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        run = write_hand(store)
        store.end_run(run, summarize=False)
        assert not summarised(store, run)
        check(analyze(store, run)[0], trades=4, net_pnl=17.5, fills=9)


def test_a_v3_file_migrates_and_its_old_runs_are_measured_from_the_journal(tmp_path):
    path = tmp_path / "v3.duckdb"
    with Store.open(path, migrations=MIGRATIONS[:3]) as old:
        run = write_hand(old)
        with warnings.catch_warnings():
            warnings.simplefilter("error")                # no summary, no warning
            old.end_run(run)
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 4
        assert not summarised(store, run)
        journal = {by: analyze(store, run, by) for by in BYS}
        check(journal[None][0], trades=4, net_pnl=17.5, exposure=0.5)
        assert store.summarize_run(run)
        for by in BYS:
            assert all(same_bits(a, b) for a, b in
                       zip(analyze(store, run, by), journal[by], strict=True))


@pytest.fixture(scope="module")
def big_summarised(tmp_path_factory):
    path = tmp_path_factory.mktemp("bigsum") / "phalanx.duckdb"
    cols = write_random_run(path, end=True)
    store = Store.open(path, read_only=True)
    yield store, cols
    store.close()


@pytest.mark.parametrize("by", BYS)
def test_a_large_summarised_run_matches_numpy_and_its_journal(big_summarised, by):
    store, cols = big_summarised
    assert summarised(store, "big")
    expected = numpy_expected(cols, by)
    read, measured = analyze(store, "big", by=by), analyze(store, "big", by=by, summary=False)
    assert [g.key for g in read] == sorted(expected) == [g.key for g in measured]
    for g, m in zip(read, measured, strict=True):
        check(g, rel=1e-8, **expected[g.key])
        # DuckDB sums in parallel, in no fixed order: the journal's figures may differ
        # from one measurement to the next in the last bits, never more
        check(g, rel=1e-12, **{f.name: getattr(m, f.name) for f in dataclasses.fields(m)})


def test_the_summary_stays_current_while_other_runs_write_and_not_after_its_own_do(
        tmp_path):
    # a marked summary (999 round trips) shows whether analyze read it
    with Store.open(tmp_path / "p.duckdb") as store:
        run = write_hand(store)
        store.end_run(run)
        store.rows("UPDATE run_summary_groups SET trades = 999 WHERE grouping = 'run'")
        assert analyze(store, run)[0].trades == 999            # nothing written since
        other = write_hand(store, "other")                    # another run's rows
        store.insert("trades", {"run_id": other, "account_id": "A", "symbol": "X",
                                "entry_ts_ns": np.array([0]), "exit_ts_ns": np.array([1]),
                                "gross_pnl": np.array([1.0]), "fees": np.array([0.0])})
        assert analyze(store, run)[0].trades == 999            # still this run's journal
        store.insert("fills", {"run_id": run, "account_id": "A", "symbol": "X",
                               "quantity": 1.0, "price": 1.0, "fee": 0.0, "ts_event": 0})
        assert analyze(store, run)[0].trades == 4              # stale: measured again


def test_a_summary_that_cannot_be_written_is_a_warning_and_the_run_still_ends(
        tmp_path, monkeypatch):
    import data.analytics
    from data.store import StoreError

    def broken(store, run_id):
        raise StoreError("disk full")

    monkeypatch.setattr(data.analytics, "summarize", broken)
    with Store.open(tmp_path / "p.duckdb") as store:
        run = write_hand(store)
        with pytest.warns(UserWarning, match="without an analytics summary: disk full"):
            store.end_run(run)
        assert store.rows("SELECT status FROM runs") == [("finished",)]
        assert not summarised(store, run)
        check(analyze(store, run)[0], trades=4, net_pnl=17.5)
