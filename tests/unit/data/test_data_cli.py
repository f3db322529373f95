"""`phalanx data`: imports print one JSON object; bad input is a one-line error, exit 2."""

from __future__ import annotations

import orjson
import pytest

from actors.cli import main
from data.schema import SCHEMA_VERSION
from data.store import Store
from tests.refdata import ORCL, refdata_path

pytestmark = pytest.mark.refdata

BAD_CSV = "Date,Open,High,Low,Close,Volume\n2020-01-02,1,1,1,1,1\n2020-01-03,1,1,1,x,1\n" \
          "2020-01-06,1,1,1,1,1\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str) -> str:
    assert code == 2 and err.startswith("phalanx data: error: ")
    assert err.strip().count("\n") == 0, err
    return err


def test_import_yahoo_prints_one_json_object(capsys, tmp_path):
    db = tmp_path / "p.duckdb"
    code, out, _ = run(capsys, "data", "import", str(refdata_path(ORCL)), "--format", "yahoo",
                       "--symbol", "ORCL", "--db", str(db), "--json")
    doc = orjson.loads(out)
    assert code == 0
    assert {k: doc[k] for k in ("rows", "table", "symbol", "first_ts", "last_ts",
                                "bad_rows")} == {
        "rows": 5036, "table": "bars", "symbol": "ORCL", "first_ts": 789_091_200 * 10**9,
        "last_ts": 1_419_984_000 * 10**9, "bad_rows": 0}
    assert doc["first_utc"] == "1995-01-03T00:00:00.000Z" and doc["interval"] == "1d"


def test_import_lean_ticks_reads_the_symbol_from_the_file(capsys, tmp_path):
    db = tmp_path / "p.duckdb"
    code, out, _ = run(capsys, "data", "import", str(refdata_path("20131008_trade.zip")),
                       "--format", "lean-ticks", "--db", str(db), "--json")
    doc = orjson.loads(out)
    assert code == 0 and (doc["rows"], doc["symbol"], doc["table"]) == (451_545, "SPY", "ticks")
    assert doc["first_utc"] == "2013-10-08T08:00:17.034Z"
    code, out, _ = run(capsys, "data", "bars", "--symbol", "SPY", "--interval", "5m",
                       "--db", str(db), "--json")
    assert code == 0 and orjson.loads(out)["bars"] == 187


def test_import_ohlcv_with_a_mapping_and_skipped_rows(capsys, tmp_path):
    src = tmp_path / "bars.csv"
    src.write_text("time,open,high,low,last,close,v\n2020-01-02 09:30,1,2,1,2,9,5\n"
                   "2020-01-02 09:31,1,2,1,oops,9,5\n2020-01-02 09:32,1,2,1,1.5,9,5\n")
    db = tmp_path / "p.duckdb"
    code, out, err = run(capsys, "data", "import", str(src), "--format", "ohlcv", "--symbol",
                         "X", "--map", "close=last", "--on-error", "skip", "--interval", "1m",
                         "--db", str(db))
    assert code == 0 and "imported 2 rows of 1m bars for X" in out
    assert "skipped line 3: bad number 'oops' in column last" in err
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT close FROM bars ORDER BY ts_ns") == [(2.0,), (1.5,)]


def test_a_malformed_row_fails_the_import_and_writes_nothing(capsys, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text(BAD_CSV)
    db = tmp_path / "p.duckdb"
    code, _, err = run(capsys, "data", "import", str(src), "--format", "ohlcv", "--symbol",
                       "X", "--db", str(db))
    assert "line 3: bad number 'x' in column Close" in one_line_error(code, err)
    assert not db.exists()                              # not even an empty store
    code, out, _ = run(capsys, "data", "import", str(src), "--format", "ohlcv", "--symbol",
                       "X", "--db", str(db), "--on-error", "skip", "--json")
    doc = orjson.loads(out)
    assert (doc["rows"], doc["bad_rows"]) == (2, 1)
    assert doc["bad_row_samples"] == [{"line": 3, "reason": "bad number 'x' in column Close"}]


@pytest.mark.parametrize("argv, message", [
    (["missing.csv", "--format", "ohlcv", "--symbol", "X"], "missing.csv: no such file"),
    (["x.csv", "--format", "metastock", "--symbol", "X"], "unknown format 'metastock'"),
    (["{btc}", "--format", "ohlcv", "--symbol", "X", "--map", "close=Last"],
     "--map: close=Last: no column 'Last'"),
    (["{btc}", "--format", "ohlcv", "--symbol", "X", "--map", "close"], "is not FIELD=COLUMN"),
    (["{btc}", "--format", "ohlcv", "--symbol", "X", "--map", "colour=close"],
     "unknown field 'colour'"),
    (["{btc}", "--format", "yahoo", "--symbol", "X", "--interval", "1m"],
     "--interval: does not apply to --format yahoo"),
    (["{btc}", "--format", "ohlcv"], "--symbol: is required"),
    (["{btc}", "--format", "ohlcv", "--symbol", "X", "--on-error", "ignore"],
     "--on-error: must be one of fail, skip"),
])
def test_bad_input_is_a_one_line_error(capsys, tmp_path, argv, message):
    btc = str(refdata_path("btc-perp-20211231-20220201_1m.csv"))
    argv = [a.replace("{btc}", btc) for a in argv]
    code, _, err = run(capsys, "data", "import", *argv, "--db", str(tmp_path / "p.duckdb"))
    assert message in one_line_error(code, err)


def test_export_a_table_or_a_query_to_parquet_and_read_info(capsys, tmp_path):
    db = tmp_path / "p.duckdb"
    run(capsys, "data", "import", str(refdata_path(ORCL)), "--format", "yahoo", "--symbol",
        "ORCL", "--db", str(db))
    out_file = tmp_path / "bars.parquet"
    code, out, _ = run(capsys, "data", "export", "--table", "bars", "--out", str(out_file),
                       "--db", str(db), "--json")
    assert code == 0 and orjson.loads(out)["rows"] == 5036 and out_file.stat().st_size > 0
    code, out, _ = run(capsys, "data", "export", "--query", "SELECT close FROM bars LIMIT 7",
                       "--out", str(tmp_path / "q.parquet"), "--db", str(db))
    assert code == 0 and "wrote 7 rows" in out
    code, out, _ = run(capsys, "data", "info", "--db", str(db), "--json")
    doc = orjson.loads(out)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["tables"]["bars"] == 5036
    assert doc["market_data"][0]["symbol"] == "ORCL"
    code, _, err = run(capsys, "data", "export", "--query", "SELECT nope", "--out",
                       str(tmp_path / "e.parquet"), "--db", str(db))
    assert "export to" in one_line_error(code, err)


def test_a_parquet_file_imports_through_ohlcv(capsys, tmp_path):
    db = tmp_path / "p.duckdb"
    run(capsys, "data", "import", str(refdata_path(ORCL)), "--format", "yahoo", "--symbol",
        "ORCL", "--db", str(db))
    run(capsys, "data", "export", "--table", "bars", "--out", str(tmp_path / "b.parquet"),
        "--db", str(db))
    code, out, _ = run(capsys, "data", "import", str(tmp_path / "b.parquet"), "--format",
                       "ohlcv", "--symbol", "ORCL2", "--db", str(db), "--json")
    doc = orjson.loads(out)
    assert code == 0 and (doc["rows"], doc["interval"]) == (5036, "1d")


def test_info_on_a_missing_store_is_a_one_line_error(capsys, tmp_path):
    code, _, err = run(capsys, "data", "info", "--db", str(tmp_path / "none.duckdb"))
    assert "no store file" in one_line_error(code, err)


def test_data_help_lists_the_actions(capsys):
    with pytest.raises(SystemExit) as done:
        main(["data", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert all(action in out for action in ("import", "bars", "export", "info"))
