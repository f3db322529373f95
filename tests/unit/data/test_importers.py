"""Importers: the real reference files load with exact counts and values; malformed rows
are reported by line and either fail the import or are skipped, as asked."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
import pytest

from data.config import (
    StoreConfig,
    format_interval,
    local_to_utc_ns,
    parse_interval,
    parse_times,
)
from data.importers import (
    ImportFailed,
    ohlcv_from_columns,
    parse_mapping,
    read_lean_trades,
    read_ohlcv,
    read_yahoo,
)
from engine.errors import ConfigError, InvalidInput
from tests.refdata import ORCL, ORCL_2015, date_ns, refdata_path

pytestmark = pytest.mark.refdata

SPY_ZIP = "20131008_trade.zip"
BTC = "btc-perp-20211231-20220201_1m.csv"
MINUTE_NS = 60_000_000_000


def utc_ns(text: str) -> int:
    """ns of an ISO time written in UTC ("2013-10-08T08:00:17.034")."""
    return int(np.datetime64(text, "ns").astype(np.int64))


@pytest.fixture(scope="module")
def spy():
    return read_lean_trades(refdata_path(SPY_ZIP))


def write_lean(tmp_path: Path, day: str, lines: list[str], symbol: str = "spy") -> Path:
    path = tmp_path / f"{day}_trade.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{day}_{symbol}_Trade_Tick.csv", "".join(f"{x}\n" for x in lines))
    return path


# --- the reference files -----------------------------------------------------------------

@pytest.mark.parametrize("name", [ORCL, ORCL_2015])
def test_yahoo_orcl_loads_every_day_at_utc_midnight_whatever_the_column_order(name):
    bars = read_yahoo(refdata_path(name), "ORCL")
    assert len(bars) == 5036 and bars.table == "bars" and bars.interval == "1d"
    assert bars.first_ts == date_ns("1995-01-03") and bars.last_ts == date_ns("2014-12-31")
    assert bars.columns["volume"][0] == 36_301_200          # Volume found by name
    assert not bars.bad_rows


def test_yahoo_column_orders_both_put_volume_in_volume():
    old = read_yahoo(refdata_path(ORCL), "ORCL").columns
    new = read_yahoo(refdata_path(ORCL_2015), "ORCL").columns
    assert old["open"][0] == 2.179012 and new["open"][0] == 44.12   # split-adjusted or not
    np.testing.assert_array_equal(old["ts_ns"], new["ts_ns"])
    # the vendor revised 8 late volumes by < 0.2 %; had the columns been swapped, every
    # "volume" would be an Adj Close of a few dollars
    differ = old["volume"] != new["volume"]
    assert differ.sum() == 8
    np.testing.assert_allclose(old["volume"], new["volume"], rtol=2e-3)


def test_yahoo_adjust_scales_prices_by_adj_close_over_close():
    raw = read_yahoo(refdata_path(ORCL_2015), "ORCL").columns
    adj = read_yahoo(refdata_path(ORCL_2015), "ORCL", adjust=True).columns
    assert adj["close"][0] == pytest.approx(2.00)            # the first Adj Close
    assert adj["open"][0] == pytest.approx(44.12 * 2.00 / 42.87)
    np.testing.assert_array_equal(adj["volume"], raw["volume"])


def test_btc_minute_bars_load_through_ohlcv_with_the_interval_inferred():
    bars = read_ohlcv(refdata_path(BTC), "BTC-PERP")
    assert len(bars) == 45_031 and bars.interval == "1m"
    assert bars.first_ts == utc_ns("2021-12-31T23:01")
    assert bars.last_ts == utc_ns("2022-02-01T05:31")
    assert bars.columns["close"][0] == 46377.0 and bars.columns["volume"][0] == 2300413.7295
    assert (np.diff(bars.columns["ts_ns"]) == MINUTE_NS).all()   # contiguous, as documented


def test_lean_spy_day_has_every_print_in_utc_with_edt_applied(spy):
    assert len(spy) == 451_545 and spy.table == "ticks" and spy.symbol == "SPY"
    # 14,417,034 ms after New York midnight on 2013-10-08 (EDT, UTC-4)
    assert spy.first_ts == utc_ns("2013-10-08T08:00:17.034")
    assert spy.last_ts == utc_ns("2013-10-08T23:59:58.962")
    c = spy.columns
    assert (c["price"][0], c["size"][0], c["exchange"][0], c["sale_condition"][0]) == \
        (167.42, 210.0, "Q", "2000")
    assert (np.diff(c["ts_ns"]) >= 0).all() and not c["suspicious"].any()
    np.testing.assert_array_equal(c["seq"], np.arange(451_545))


def test_lean_time_zone_is_dst_correct_on_each_side_of_a_change(tmp_path):
    # 2014-03-09: New York springs forward at 02:00 EST to 03:00 EDT
    path = write_lean(tmp_path, "20140309", ["5400000,1000000,1,Q,0,0",     # 01:30 EST
                                             "12600000,1000000,1,Q,0,0"])   # 03:30 EDT
    ts = read_lean_trades(path).columns["ts_ns"]
    assert ts.tolist() == [utc_ns("2014-03-09T06:30"), utc_ns("2014-03-09T07:30")]
    winter = write_lean(tmp_path, "20131104", ["34200000,1000000,1,Q,0,0"])  # 09:30 EST
    assert read_lean_trades(winter).first_ts == utc_ns("2013-11-04T14:30")


def test_lean_price_is_scaled_and_symbol_can_be_given(tmp_path):
    path = write_lean(tmp_path, "20131008", ["34200000,1674200,300,P,20000020,0"])
    ticks = read_lean_trades(path, "SPDR")
    assert ticks.symbol == "SPDR" and ticks.columns["price"].tolist() == [167.42]


def test_lean_without_a_date_in_the_file_name_is_refused(tmp_path):
    path = tmp_path / "trades.csv"
    path.write_text("34200000,1674200,300,P,0,0\n")
    with pytest.raises(ImportFailed, match="YYYYMMDD"):
        read_lean_trades(path, "SPY")


# --- malformed rows: fail or skip --------------------------------------------------------

BAD_CSV = """Date,Open,High,Low,Close,Volume
2020-01-02,10,11,9,10.5,100
2020-01-03,10,11,9,abc,100
2020-01-06,10,11,9
2020-13-07,10,11,9,10.5,100
2020-01-08,10,11,9,10.5,100
"""
BAD_LINES = [(3, "bad number 'abc' in column Close"), (4, "expected 6 fields, found 4"),
             (5, "bad time '2020-13-07' in column Date")]


def test_malformed_bars_fail_the_import_naming_the_first_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    with pytest.raises(ImportFailed) as failure:
        read_ohlcv(path, "X", interval="1d")
    assert "line 3: bad number 'abc' in column Close (and 2 more bad rows)" in str(failure.value)
    assert "nothing was written" in str(failure.value)


def test_malformed_bars_are_skipped_and_listed_when_asked(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_CSV)
    bars = read_ohlcv(path, "X", interval="1d", on_error="skip")
    assert [(b.line, b.reason) for b in bars.bad_rows] == BAD_LINES
    assert bars.columns["ts_ns"].tolist() == [date_ns("2020-01-02"), date_ns("2020-01-08")]


def test_malformed_ticks_are_reported_by_line_in_both_modes(tmp_path):
    path = write_lean(tmp_path, "20131008", [
        "34200000,1674200,300,P,0,0", "34200001,16x4200,300,P,0,0", "34200002,1674200",
        "99999999999,1674200,300,P,0,0", "34200003,1674200,0,P,0,0", "34200004,1674300,5,P,0,0"])
    with pytest.raises(ImportFailed, match="line 2: bad number '16x4200' in column price"):
        read_lean_trades(path)
    ticks = read_lean_trades(path, on_error="skip")
    assert [b.line for b in ticks.bad_rows] == [2, 3, 4, 5]
    assert "not within the day" in ticks.bad_rows[2].reason
    assert "quantity 0.0 is not > 0" in ticks.bad_rows[3].reason
    assert ticks.columns["price"].tolist() == [167.42, 167.43]
    assert ticks.columns["seq"].tolist() == [0, 5]


def test_lean_integers_are_read_strictly_whichever_parser_runs(tmp_path):
    # DuckDB's fast reader would round "34200001.5" or take "1e0": such a file is parsed
    # line by line instead, and those rows are bad, as Python's int() says
    path = write_lean(tmp_path, "20131008", [
        "34200000,1674200,300,P,0,0", "34200001.5,1674200,300,P,0,0",
        "34200002,1674200,300,P,0,1e0", "34200003,1674200.0,300,E,0,1"])
    ticks = read_lean_trades(path, on_error="skip")
    assert [(b.line, b.reason) for b in ticks.bad_rows] == [
        (2, "bad integer '34200001.5' in column ms"), (3, "bad integer '1e0' in column suspicious")]
    assert ticks.columns["seq"].tolist() == [0, 3]
    assert ticks.columns["suspicious"].tolist() == [False, True]
    assert ticks.columns["exchange"].tolist() == ["P", "E"]


def test_inconsistent_and_duplicate_bars_are_bad_rows(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("time,o,h,l,c,v\n2020-01-02,10,11,9,10,1\n2020-01-03,10,9,11,10,1\n"
                    "2020-01-02,10,11,9,10,1\n2020-01-06,10,11,9,10,-1\n2020-01-07,0,1,1,1,1\n")
    bars = read_ohlcv(path, "X", interval="1d", on_error="skip")
    reasons = {b.line: b.reason for b in bars.bad_rows}
    assert reasons[3].startswith("inconsistent bar") and "first on line 2" in reasons[4]
    assert "volume -1.0" in reasons[5] and "positive" in reasons[6]
    assert len(bars) == 1


def test_a_file_of_only_bad_rows_imports_nothing(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("date,open,high,low,close\n2020-01-02,x,1,1,1\n")
    with pytest.raises(ImportFailed, match="no rows to import"):
        read_ohlcv(path, "X", interval="1d", on_error="skip")


def test_a_header_without_rows_imports_nothing(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("date,open,high,low,close\n")
    with pytest.raises(ImportFailed, match="no rows to import"):
        read_ohlcv(path, "X")


def test_missing_header_column_names_the_field_and_the_header(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("Date,Open,High,Low,Volume\n2020-01-02,1,1,1,1\n")
    with pytest.raises(ImportFailed, match="line 1: no column for close in the header Date"):
        read_ohlcv(path, "X")


def test_missing_file_is_an_import_failure(tmp_path):
    with pytest.raises(ImportFailed, match="no such file"):
        read_ohlcv(tmp_path / "absent.csv", "X")


# --- columns, aliases, mapping, times ----------------------------------------------------

def test_columns_are_matched_by_alias_case_insensitively_and_mapping_overrides(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("TIMESTAMP,O,H,L,Close,Last,V\n1577923200000,1,3,1,2,2.5,7\n"
                    "1577923260000,2,3,1,2,2.5,7\n")
    plain = read_ohlcv(path, "X")
    assert plain.first_ts == utc_ns("2020-01-02T00:00") and plain.interval == "1m"
    assert plain.columns["close"][0] == 2.0
    mapped = read_ohlcv(path, "X", mapping=parse_mapping("close=last"))
    assert mapped.columns["close"][0] == 2.5


def test_separate_date_and_time_columns_are_joined(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("Date,Time,Open,High,Low,Close\n2020-01-02,09:30:00,1,1,1,1\n"
                    "2020-01-02,09:35:00,1,1,1,1\n")
    bars = read_ohlcv(path, "X", tz="America/New_York")
    assert bars.first_ts == utc_ns("2020-01-02T14:30") and bars.interval == "5m"


def test_bars_stamped_at_their_close_are_stored_at_their_open(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("time,open,high,low,close\n2020-01-02 00:01,1,1,1,1\n"
                    "2020-01-02 00:02,1,1,1,1\n")
    assert read_ohlcv(path, "X", label="close").first_ts == utc_ns("2020-01-02T00:00")


def test_quoted_fields_and_blank_lines_take_the_slow_path_to_the_same_result(tmp_path):
    source = refdata_path(BTC).read_text().splitlines()[:200]
    fast = tmp_path / "fast.csv"
    fast.write_text("\n".join(source) + "\n")
    slow = tmp_path / "slow.csv"
    slow.write_text("\n".join([source[0], f'"{source[1].split(",")[0]}",' +
                               ",".join(source[1].split(",")[1:]), "", *source[2:]]) + "\n")
    a, b = read_ohlcv(fast, "BTC"), read_ohlcv(slow, "BTC")
    for name in a.columns:
        np.testing.assert_array_equal(a.columns[name], b.columns[name])


def test_in_memory_columns_with_missing_values_report_row_numbers():
    columns = {"ts": np.array(["2020-01-02T00:00", "2020-01-02T00:01", "2020-01-02T00:02"],
                              dtype="datetime64[ns]"),
               "open": np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False]),
               "high": np.array([1.0, 2.0, 3.0]), "low": np.array([1.0, 2.0, 3.0]),
               "close": np.array([1.0, 2.0, 3.0])}
    bars = ohlcv_from_columns(columns, "X", "mem", interval="1m", on_error="skip")
    assert [(b.line, b.reason) for b in bars.bad_rows] == [(2, "missing value")]
    assert bars.columns["ts_ns"].tolist() == [utc_ns("2020-01-02T00:00"),
                                              utc_ns("2020-01-02T00:02")]
    assert bars.columns["open"].tolist() == [1.0, 3.0]


def test_parse_times_reads_iso_offsets_and_zones():
    ns, bad = parse_times(np.array(["2020-01-02T10:00:00Z", "2020-01-02 10:00+02:00",
                                    "2020-07-01 10:00", "not a time"]), tz="Europe/Paris")
    assert bad.tolist() == [False, False, False, True]
    assert ns[:3].tolist() == [utc_ns("2020-01-02T10:00"), utc_ns("2020-01-02T08:00"),
                               utc_ns("2020-07-01T08:00")]                 # CEST = UTC+2


def test_local_to_utc_rejects_an_unknown_zone():
    with pytest.raises(ConfigError, match="unknown time zone"):
        local_to_utc_ns(np.array([0]), "Mars/Olympus")


@pytest.mark.parametrize("text, ns, canonical", [
    ("1m", MINUTE_NS, "1m"), ("60s", MINUTE_NS, "1m"), ("5 min", 5 * MINUTE_NS, "5m"),
    ("250ms", 250_000_000, "250ms"), ("d", 86_400 * 10**9, "1d"), ("90m", 90 * MINUTE_NS, "90m")])
def test_intervals_have_one_canonical_spelling(text, ns, canonical):
    assert parse_interval(text) == (ns, canonical) and format_interval(ns) == canonical


@pytest.mark.parametrize("text", ["", "0s", "5 fortnights", "m5"])
def test_bad_intervals_are_refused(text):
    with pytest.raises(InvalidInput):
        parse_interval(text)


@pytest.mark.parametrize("mapping", ["close", "close=", "colour=Last"])
def test_bad_mappings_are_config_errors(mapping):
    with pytest.raises(ConfigError, match="--map"):
        parse_mapping(mapping)


def test_store_config_is_validated_with_the_key_named():
    assert StoreConfig().path == "phalanx.duckdb"
    with pytest.raises(ConfigError, match="flush_rows"):
        StoreConfig(flush_rows=0)
    with pytest.raises(ConfigError, match="flush_interval_s"):
        StoreConfig(flush_interval_s=float("nan"))
    with pytest.raises(ConfigError, match="store.toml: flush_size: unknown key"):
        StoreConfig.from_mapping({"flush_size": 3}, "store.toml")
    assert StoreConfig.from_mapping({"flush_rows": 5}).flush_rows == 5


def test_utc_helper_agrees_with_datetime():
    assert utc_ns("2013-10-08T08:00") == int(
        dt.datetime(2013, 10, 8, 8, tzinfo=dt.UTC).timestamp()) * 10**9
