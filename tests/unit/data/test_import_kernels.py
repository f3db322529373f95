"""The one-pass reader of clean bar files (data.import_kernels) against the careful
line-by-line parser: same columns bit for bit, or a fallback that names the bad line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data import importers
from data.import_kernels import clean_bars_nb
from data.importers import ImportFailed, read_ohlcv, read_yahoo
from tests.unit.data.test_importers import refdata_path

BTC = "btc-perp-20211231-20220201_1m.csv"


def careful(monkeypatch: pytest.MonkeyPatch, read, *args, **kwargs):
    """`read` with the kernel path switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(importers, "_read_clean", lambda *a, **k: None)
        return read(*args, **kwargs)


def assert_same(a, b) -> None:
    assert list(a.columns) == list(b.columns) and a.interval == b.interval
    for name in a.columns:
        assert a.columns[name].tobytes() == b.columns[name].tobytes(), name


@pytest.mark.parametrize("name, read, options", [
    (BTC, read_ohlcv, {}), (BTC, read_ohlcv, {"label": "close"}),
    ("orcl-1995-2014.txt", read_yahoo, {}), ("orcl-1995-2014.txt", read_yahoo, {"adjust": True}),
    ("orcl-2015/orcl-1995-2014.txt", read_yahoo, {"adjust": True}),
    ("orcl-1995-2014.txt", read_ohlcv, {"tz": "America/New_York"}),
    ("2006-day-001.txt", read_ohlcv, {}), ("2006-day-001.txt", read_yahoo, {})])
def test_kernel_reads_every_reference_file_bit_for_bit_as_the_careful_parser(
        monkeypatch, name, read, options):
    path = refdata_path(name)
    assert_same(read(path, "X", **options), careful(monkeypatch, read, path, "X", **options))


def test_long_numbers_are_read_by_float_and_exact(tmp_path: Path, monkeypatch):
    path = tmp_path / "bars.csv"
    path.write_text("time,open,high,low,close,volume\n"
                    "2020-01-02 00:00,1.5,2,1,1.5,218102.59507500002\n"
                    "2020-01-02 00:01:00.123456789,1.5,2.0000000000000000000001,1,1.5,0\n"
                    "2020-01-02T00:02,+1.5,2,.5,.5,12345678901234567890\n")
    fast = read_ohlcv(path, "X", interval="1m")
    assert fast.columns["volume"][0] == 218102.59507500002
    assert_same(fast, careful(monkeypatch, read_ohlcv, path, "X", interval="1m"))


def test_many_long_numbers_grow_the_kernels_list_of_them(tmp_path: Path, monkeypatch):
    # 300 rows x 2 numbers too long for the exact path: the list starts at 64 and doubles
    rows = "".join(f"2020-01-{1 + i // 1440:02d} {i // 60 % 24:02d}:{i % 60:02d},"
                   f"1.{i:020d},2,1,1.{i:020d},3.{i:025d}\n" for i in range(300))
    path = tmp_path / "bars.csv"
    path.write_text("time,open,high,low,close,volume\n" + rows)
    status, _, _, deferred = clean_bars_nb(np.frombuffer(rows.encode(), np.uint8), 6, 0,
                                           np.array([-1, 0, 1, 2, 3, 4]), 5)
    assert status == 0 and len(deferred) == 900          # read by the kernel, not refused
    fast = read_ohlcv(path, "X", interval="1m")
    assert fast.columns["volume"][299] == float(f"3.{299:025d}")
    assert_same(fast, careful(monkeypatch, read_ohlcv, path, "X", interval="1m"))


@pytest.mark.parametrize("row, reason", [
    ("2020-01-03,1,1,1,abc", "bad number 'abc' in column close"),
    ("2020-02-30,1,1,1,1", "bad time '2020-02-30' in column time"),
    ("2020-01-03,1,1,1", "expected 5 fields, found 4"),
    ("2020-01-03,1,1,1,1,1", "expected 5 fields, found 6"),
    ("2020-01-02,1,1,1,1", "duplicate time"),
    ("2020-01-03,1,1,1,-1", "prices must be positive"),
    ("2020-01-03,1,1,2,1", "inconsistent bar"),
    ("2020-01-03,1,1,1,1e400", "prices must be positive")])
def test_a_malformed_row_falls_back_and_is_named_by_line(tmp_path: Path, row, reason):
    path = tmp_path / "bars.csv"
    path.write_text(f"time,open,high,low,close\n2020-01-02,1,1,1,1\n{row}\n2020-01-06,1,1,1,1\n")
    with pytest.raises(ImportFailed, match=f"line 3: {reason}"):
        read_ohlcv(path, "X", interval="1d")


def test_crlf_blank_last_lines_and_no_final_newline_read_the_same(tmp_path: Path, monkeypatch):
    body = "time,o,h,l,c\n2020-01-02,1,2,1,2\n2020-01-03,2,3,1,2"
    for text in (body, body + "\n\n\n", body.replace("\n", "\r\n") + "\r\n"):
        path = tmp_path / "bars.csv"
        path.write_bytes(text.encode())
        assert_same(read_ohlcv(path, "X"), careful(monkeypatch, read_ohlcv, path, "X"))
        assert read_ohlcv(path, "X").columns["close"].tolist() == [2.0, 2.0]


def test_kernel_times_equal_numpy_datetime64_on_random_stamps(tmp_path: Path):
    rng = np.random.default_rng(7)
    ns = np.sort(rng.integers(-2_000_000_000_000_000_000, 7_000_000_000_000_000_000, 300))
    stamps = np.unique(ns.astype("datetime64[ns]")).astype(str)
    path = tmp_path / "bars.csv"
    path.write_text("time,o,h,l,c\n" + "".join(f"{s},1,1,1,1\n" for s in stamps))
    got = read_ohlcv(path, "X").columns["ts_ns"]
    np.testing.assert_array_equal(got, stamps.astype("datetime64[ns]").astype(np.int64))
