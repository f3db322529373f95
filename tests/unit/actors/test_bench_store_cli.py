"""`phalanx bench store` prints the figures the issue asks for (no timing asserted)."""

import orjson

from actors.cli import main
from benchmarks.store import SQL_SET, run_store_bench
from tests.refdata import refdata_path

RATES = ("ingest_ticks_per_s", "naive_ticks_per_s", "pandas_ticks_per_s",
         "spy_ingest_ticks_per_s", "spy_parse_ticks_per_s", "spy_write_ticks_per_s",
         "naive_autocommit_ticks_per_s")
TINY = ["bench", "store", "--ticks", "20000", "--fills", "20000", "--naive-rows", "300",
        "--repeats", "1", "--json"]


def test_bench_store_json_has_every_figure_positive(capsys):
    spy = refdata_path("20131008_trade.zip")
    assert main([*TINY, "--spy", str(spy)]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert all(report[f] > 0 for f in RATES)
    assert report["analytics_s"] > 0
    assert all(s > 0 for s in report["analytics_parts_s"].values())
    sizes = report["sizes"]
    assert (sizes["ticks"], sizes["fills"], sizes["naive_rows"]) == (20_000, 20_000, 300)
    assert sizes["spy_ticks"] == 451_545 and sizes["trades"] == 10_000
    assert all(r > 0 for r in report["ratios"].values())
    assert {"ingest_met", "analytics_met"} <= set(report["targets"])
    assert report["environment"]["pandas"] and report["environment"]["duckdb"]


def test_bench_store_without_the_spy_file_times_the_sql_set_and_leaves_spy_fields_none():
    report = run_store_bench(2_000, 2_000, naive_rows=50, repeats=1, spy=None,
                             analytics="sql")
    assert report["analytics_source"] == "sql" and report["analytics_s"] > 0
    assert set(report["analytics_parts_s"]) == set(SQL_SET)
    assert report["ingest_ticks_per_s"] > 0 and report["naive_ticks_per_s"] > 0
    assert report["pandas_ticks_per_s"] is None and report["sizes"]["spy_ticks"] is None
    assert report["notes"]


def test_bench_store_with_a_missing_spy_file_is_a_one_line_error(capsys, tmp_path):
    assert main([*TINY, "--spy", str(tmp_path / "nope.zip")]) == 2
    assert "--spy" in capsys.readouterr().err
