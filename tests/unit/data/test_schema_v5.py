"""Schema v5: equity samples carry their order (`seq`), latency samples their account."""

from __future__ import annotations

import numpy as np

from data.analytics import equity_curves, latency
from data.schema import MIGRATIONS, SCHEMA_VERSION
from data.store import Store

DAY = 86_400 * 10**9


def test_the_writer_numbers_equity_samples_in_the_order_they_were_appended(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        run = store.begin_run("backtest", None, run_id="r")
        with store.writer(run) as writer:
            writer.append("equity", {"account_id": np.array(["A", "B"], dtype=object),
                                     "ts_ns": np.array([0, 0]), "equity": np.array([1.0, 2.0])})
            writer.append("equity", {"account_id": "A", "ts_ns": np.array([DAY]),
                                     "equity": np.array([3.0])})
        with store.writer(run) as again:              # a writer reopened on the run
            again.append("equity", {"account_id": "A", "ts_ns": np.array([DAY]),
                                    "equity": np.array([4.0])})
        rows = store.rows("SELECT account_id, seq, equity FROM equity ORDER BY seq")
    assert rows == [("A", 0, 1.0), ("B", 1, 2.0), ("A", 2, 3.0), ("A", 3, 4.0)]


def test_a_duplicate_equity_sample_keeps_the_highest_seq_whatever_the_row_order(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        run = store.begin_run("backtest", None, run_id="r")
        # written in one batch whose physical order disagrees with the journaled one
        store.insert("equity", {"run_id": run, "account_id": "A",
                                "ts_ns": np.array([0, DAY, DAY]),
                                "equity": np.array([100.0, 120.0, 90.0]),
                                "seq": np.array([0, 2, 1])})
        [curve] = equity_curves(store, run)
    assert curve.equity.tolist() == [100.0, 120.0]


def test_latency_samples_carry_their_account_and_filter_by_it(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        run = store.begin_run("backtest", None, run_id="r")
        with store.writer(run) as writer:
            writer.append("latency", {"hop": "signal->fill", "ts_ns": np.arange(4),
                                      "ns": np.array([10, 20, 30, 1000]),
                                      "account_id": np.array(["A", "A", "A", "B"],
                                                             dtype=object)})
        [a] = latency(store, run, account="A")
        [everyone] = latency(store, run)
    assert (a.count, a.max, a.p50) == (3, 30, 20.0)
    assert (everyone.count, everyone.max) == (4, 1000)


def test_a_v4_file_migrates_with_null_seq_and_account_and_keeps_its_tie_rule(tmp_path):
    path = tmp_path / "v4.duckdb"
    with Store.open(path, migrations=MIGRATIONS[:4]) as old:
        run = old.begin_run("backtest", None, run_id="old")
        with old.writer(run) as writer:              # no seq column yet: none written
            writer.append("equity", {"account_id": "A", "ts_ns": np.array([0, DAY, DAY]),
                                     "equity": np.array([100.0, 90.0, 110.0])})
            writer.append("latency", {"hop": "h", "ts_ns": np.arange(2),
                                      "ns": np.array([5, 7])})
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 5
        assert store.rows("SELECT DISTINCT seq FROM equity") == [(None,)]
        assert store.rows("SELECT DISTINCT account_id FROM latency") == [(None,)]
        # rows from before v5: the duplicate time keeps the row journaled last
        assert equity_curves(store, "old")[0].equity.tolist() == [100.0, 110.0]
        assert latency(store, "old", account="A") == []
        assert latency(store, "old")[0].count == 2
