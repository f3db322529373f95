"""tests/refdata.py: locating ../shared/data and loading the Yahoo daily CSVs."""

from __future__ import annotations

import pytest

from tests import refdata
from tests.refdata import ORCL, ORCL_2015, date_ns, load_yahoo_daily, ns_date, refdata_path


def test_date_ns_is_utc_midnight_in_integer_nanoseconds():
    assert date_ns("1970-01-02") == 86_400_000_000_000
    assert date_ns("1995-01-03") == 789_091_200 * 10**9
    assert ns_date(date_ns("2014-12-31")) == "2014-12-31"


def test_a_missing_reference_folder_skips_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(refdata, "REFDATA_DIR", tmp_path / "absent")
    with pytest.raises(pytest.skip.Exception, match="reference data folder .* is absent"):
        refdata_path(ORCL)


def test_both_column_orders_load(tmp_path):
    rows = "1995-01-03,1.0,2.0,0.5,1.5,{a},{b}\n"
    (tmp_path / "adj_first.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n" + rows.format(a=1.4, b=1000))
    (tmp_path / "volume_first.csv").write_text(
        "Date,Open,High,Low,Close,Volume,Adj Close\n" + rows.format(a=1000, b=1.4))

    [a] = load_yahoo_daily(tmp_path / "adj_first.csv", "X")
    [b] = load_yahoo_daily(tmp_path / "volume_first.csv", "X")

    assert a == b
    assert (a.open, a.high, a.low, a.close, a.volume) == (1.0, 2.0, 0.5, 1.5, 1000.0)
    assert a.ts_event == a.ts_init == date_ns("1995-01-03")


def test_a_malformed_row_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n1995-01-03,1,2,0.5,null,1,1\n")
    with pytest.raises(ValueError, match="bad.csv:2"):
        load_yahoo_daily(path, "X")


@pytest.mark.refdata
def test_orcl_files_load_with_their_own_column_orders(orcl_bars):
    old = load_yahoo_daily(refdata_path(ORCL_2015), "ORCL")

    assert len(orcl_bars) == len(old) == 5036
    first = orcl_bars[0]
    assert (ns_date(first.ts_event), first.open, first.close, first.volume) == (
        "1995-01-03", 2.179012, 2.117284, 36_301_200)
    assert (old[0].open, old[0].close, old[0].volume) == (44.12, 42.87, 36_301_200)
    assert [b.ts_event for b in old] == [b.ts_event for b in orcl_bars]
    # the same volumes, but for 8 late-2014 days that Yahoo revised between the downloads
    same_volume = sum(a.volume == b.volume for a, b in zip(old, orcl_bars, strict=True))
    assert same_volume == 5036 - 8
    assert ns_date(orcl_bars[-1].ts_event) == "2014-12-31"
