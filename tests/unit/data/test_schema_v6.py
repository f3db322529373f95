"""Schema v6: the sweep tables are part of the numbered migrations."""

from __future__ import annotations

import pytest

from data import store_sweeps as db
from data.schema import MIGRATIONS, SCHEMA_VERSION
from data.store import Store

# What the sweep code created on first use before v6 (kept here as history: a file with
# these tables must migrate cleanly and keep its rows).
_BEFORE_V6 = (
    """CREATE TABLE IF NOT EXISTS sweeps (
        sweep_id VARCHAR PRIMARY KEY, started_ns BIGINT NOT NULL, ended_ns BIGINT,
        config VARCHAR NOT NULL, status VARCHAR NOT NULL, sets INTEGER NOT NULL,
        path VARCHAR)""",
    f"""CREATE TABLE IF NOT EXISTS sweep_results (
        sweep_id VARCHAR NOT NULL, set_index INTEGER NOT NULL, params VARCHAR NOT NULL,
        status VARCHAR NOT NULL, error VARCHAR,
        {', '.join(f'{name} {kind}' for name, kind in db.METRICS.items())},
        written_ns BIGINT NOT NULL, PRIMARY KEY (sweep_id, set_index))""",
)


def _columns(store: Store, table: str) -> list[tuple[str, str]]:
    return store.rows("SELECT column_name, data_type FROM information_schema.columns "
                      "WHERE table_name = ? ORDER BY ordinal_position", [table])


def test_a_new_file_has_the_sweep_tables_with_every_metric_column(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        assert store.schema_version == SCHEMA_VERSION >= 6
        cols = dict(_columns(store, "sweep_results"))
        assert {m: cols[m] for m in db.METRICS} == db.METRICS
        assert [c for c, _ in _columns(store, "sweeps")] == [
            "sweep_id", "started_ns", "ended_ns", "config", "status", "sets", "path"]
        db.begin_sweep(store, "s1", {"strategy": "sma_cross"}, sets=2, path="fast")
        db.write_results(store, "s1", [{"set_index": 0, "params": {"fast": 2},
                                        "status": "ok", "error": None, "final_value": 1.5}])
        assert db.finished_sets(store, "s1") == {0}


@pytest.mark.parametrize("had_sweeps", [True, False])
def test_a_v5_file_migrates_with_or_without_the_tables_the_old_code_made(tmp_path,
                                                                        had_sweeps):
    path = tmp_path / "v5.duckdb"
    with Store.open(path, migrations=MIGRATIONS[:5]) as old:
        if had_sweeps:
            for ddl in _BEFORE_V6:
                old.rows(ddl)
            old.rows("INSERT INTO sweeps VALUES ('old', 1, NULL, '{}', 'finished', 1, "
                     "'fast')")
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.rows("SELECT sweep_id FROM sweeps") == ([("old",)] if had_sweeps
                                                             else [])
        assert [c for c, _ in _columns(store, "sweep_results")][-1] == "written_ns"


def test_writing_a_set_again_replaces_it_and_missing_metrics_are_null(tmp_path):
    with Store.open(tmp_path / "p.duckdb") as store:
        db.begin_sweep(store, "s1", {"strategy": "sma_cross"}, sets=3, path="fast")
        db.write_results(store, "s1", [
            {"set_index": 0, "params": {"fast": 2}, "status": "ok", "error": None,
             "final_value": 1.5, "closed_trades": 4, "sharpe": None},
            {"set_index": 1, "params": {"fast": 3}, "status": "lost", "error": "task died"}])
        assert db.finished_sets(store, "s1") == {0}
        db.write_results(store, "s1", [{"set_index": 1, "params": {"fast": 3},
                                        "status": "ok", "error": None, "final_value": 2.5,
                                        "closed_trades": 7}])
        got = {r["set_index"]: r for r in db.read_results(store, "s1")}
        assert sorted(got) == [0, 1] and db.finished_sets(store, "s1") == {0, 1}
        assert (got[1]["status"], got[1]["error"], got[1]["final_value"],
                got[1]["closed_trades"]) == ("ok", None, 2.5, 7)
        assert got[0]["params"] == {"fast": 2} and got[0]["closed_trades"] == 4
        assert got[0]["sharpe"] is None and got[0]["wins"] is None
        with pytest.raises(ValueError, match="status 'odd'"):
            db.write_results(store, "s1", [{"set_index": 2, "params": {}, "status": "odd"}])
