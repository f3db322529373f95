"""The DuckDB store: schema versions and migrations, batched writes that land whole, the
crash-loss bound, readers while a run writes, bars from ticks, Parquet export."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from data.config import StoreConfig
from data.importers import read_lean_trades, read_yahoo
from data.schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from data.store import SchemaVersionError, Store, StoreError, StoreLocked, read_parquet
from engine import enums as en
from engine import messages as m
from engine.errors import InvalidInput, UnknownName
from tests.refdata import ORCL, refdata_path

ROOT = Path(__file__).resolve().parents[3]
MINUTE_NS = 60_000_000_000


def signal(i: int) -> m.Signal:
    return m.Signal(f"s{i}", "sma", "SPY", en.SignalSide.LONG, i, i)


def run_python(code: str, *args: str) -> str:
    """Run `code` in a fresh interpreter (another process); its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode in (0, -9), done.stderr
    return done.stdout


@pytest.fixture()
def store(tmp_path):
    with Store.open(tmp_path / "phalanx.duckdb") as opened:
        yield opened


# --- schema and migrations ---------------------------------------------------------------

def test_a_new_store_is_created_at_the_latest_version_in_the_working_directory(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Store.open() as store:
        assert store.path == tmp_path / "phalanx.duckdb" and store.schema_version == SCHEMA_VERSION
        assert {t: store.count(t) for t in TABLES if t != "schema_version"} == dict.fromkeys(
            [t for t in TABLES if t != "schema_version"], 0)
        versions = store.rows("SELECT version, code_version FROM schema_version ORDER BY 1")
    assert [v for v, _ in versions] == list(range(1, SCHEMA_VERSION + 1))
    assert versions[0][1].startswith("phalanx ")


def test_an_old_file_is_migrated_in_order_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.duckdb"
    with Store.open(path, migrations=MIGRATIONS[:1]) as old:
        assert old.schema_version == 1
        old.import_parsed(read_yahoo(refdata_path(ORCL), "ORCL"))
    with pytest.raises(SchemaVersionError, match="open it once read-write"):
        Store.open(path, read_only=True)
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.count("bars") == 5036 and store.count("runs") == 0
        assert store.rows("SELECT max(version) FROM schema_version") == [(SCHEMA_VERSION,)]


def test_a_v2_run_journal_migrates_to_v3_with_null_strategies(tmp_path):
    path = tmp_path / "v2.duckdb"
    with Store.open(path, migrations=MIGRATIONS[:2]) as old:
        run = old.begin_run("backtest", {}, run_id="old")
        old.rows("INSERT INTO fills (run_id, client_order_id, quantity) VALUES ('old', 'o1', 1)")
        old.rows("INSERT INTO trades (run_id, symbol, quantity) VALUES ('old', 'X', 1)")
        old.end_run(run)
    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 3
        assert store.rows("SELECT client_order_id, strategy_id FROM fills") == [("o1", None)]
        assert store.rows("SELECT symbol, strategy_id FROM trades") == [("X", None)]


def test_a_file_from_newer_code_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "new.duckdb"
    with Store.open(path) as store:
        store.rows("INSERT INTO schema_version VALUES (?, 'from the future', 0, 'phalanx 9')",
                   [SCHEMA_VERSION + 1])
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}, "
                                                 f"newer than this code's {SCHEMA_VERSION}"):
        Store.open(path)
    with pytest.raises(SchemaVersionError):
        Store.open(path, read_only=True)


def test_a_duckdb_file_that_is_not_a_store_is_refused(tmp_path):
    path = tmp_path / "other.duckdb"
    with Store.open(path, migrations=()) as raw:
        raw.rows("CREATE TABLE prices (x INTEGER)")
    with pytest.raises(StoreError, match="not a Phalanx store"):
        Store.open(path)


def test_read_only_open_of_a_missing_file_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="no store file"):
        Store.open(tmp_path / "absent.duckdb", read_only=True)


# --- imports -----------------------------------------------------------------------------

def test_a_failing_query_is_a_store_error_naming_the_cause(store):
    assert store.query("SELECT 41 + 1 AS x")["x"].tolist() == [42]
    with pytest.raises(StoreError, match="query failed: .*no_such_table"):
        store.query("SELECT * FROM no_such_table")


def test_duckdb_never_draws_its_progress_bar_on_stdout(tmp_path):
    # DuckDB draws a progress bar on stdout for queries over two seconds, which broke the
    # one JSON object `phalanx ... --json` prints (seen in `phalanx bench store --json`).
    setting = "SELECT current_setting('enable_progress_bar')"
    with Store.open(tmp_path / "s.duckdb") as store:
        reader = store.reader()
        assert store.rows(setting) == reader.rows(setting) == [(False,)]
        reader.close()
    with Store.open(tmp_path / "s.duckdb", read_only=True) as store:
        assert store.rows(setting) == [(False,)]


def test_reimporting_a_file_replaces_its_rows_instead_of_doubling_them(store):
    bars = read_yahoo(refdata_path(ORCL), "ORCL")
    first = store.import_parsed(bars)
    again = store.import_parsed(bars)
    assert (first.rows, first.replaced, again.replaced) == (5036, 0, 5036)
    assert store.count("bars") == 5036 and store.count("imports") == 2
    store.import_parsed(bars, replace=False)
    assert store.count("bars") == 2 * 5036
    assert store.rows("SELECT symbol FROM instruments") == [("ORCL",)]


def test_a_failed_write_leaves_nothing_behind(store):
    with pytest.raises(StoreError, match="rolled back"):
        store.insert_batches([("bars", {"symbol": "X", "interval": "1d", "ts_ns": [1, 2],
                                        "open": [1.0, 1.0], "high": [1.0, 1.0],
                                        "low": [1.0, 1.0], "close": [1.0, 1.0],
                                        "volume": [1.0, 1.0]}),
                              ("bars", {"symbol": "X", "ts_ns": [3]})])   # NOT NULL breaks
    assert store.count("bars") == 0
    store.insert("bars", {"symbol": "X", "interval": "1d", "ts_ns": [1], "open": [1.0],
                          "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]})
    assert store.count("bars") == 1                    # the store is usable afterwards


def test_large_market_batches_leave_insertion_order_on_for_the_journal(store):
    n = 150_000                                  # above the unordered-insert threshold
    ticks = {"symbol": "X", "ts_ns": np.arange(n), "seq": np.arange(n),
             "price": np.ones(n), "size": np.ones(n)}
    setting = "SELECT current_setting('preserve_insertion_order')"
    assert store.insert("ticks", ticks) == n and store.rows(setting) == [(True,)]
    with pytest.raises(StoreError, match="rolled back"):       # NULL price: NOT NULL breaks
        store.insert("ticks", {**ticks, "price": np.r_[np.ones(n - 1), np.nan]})
    assert store.rows(setting) == [(True,)] and store.count("ticks") == n
    assert store.rows("SELECT min(seq), max(seq), count(DISTINCT seq) FROM ticks") == \
        [(0, n - 1, n)]


def test_inserts_check_their_columns(store):
    with pytest.raises(InvalidInput, match="not in"):
        store.insert("latency", {"run_id": "r", "hop": "a", "ns": [1], "colour": [1]})
    with pytest.raises(InvalidInput, match="run_id is required"):
        store.insert("latency", {"hop": "a", "ns": [1]})
    with pytest.raises(InvalidInput, match="differ in length"):
        store.insert("latency", {"run_id": "r", "hop": "a", "ns": [1, 2], "ts_ns": [1]})


# --- the run journal ---------------------------------------------------------------------

EVENTS = [
    m.Signal("sig-1", "sma", "SPY", en.SignalSide.LONG, 1, 1, stop_loss=95.0),
    m.SubmitOrder("A1", "c1", "SPY", en.OrderSide.BUY, 10.0, 2, 2, signal_id="sig-1"),
    m.OrderSubmitted("A1", "c1", 3, 3), m.OrderAccepted("A1", "c1", "V1", 4, 4),
    m.OrderFilled("A1", "c1", "V1", "T1", "SPY", en.OrderSide.BUY, 10.0, 100.0, 0.5, 5, 5),
    m.PositionOpened("A1", "SPY", 10.0, 100.0, 5, 5),
    m.PositionChanged("A1", "SPY", 5.0, 100.0, 25.0, 6, 6),
    m.PositionClosed("A1", "SPY", 10.0, 100.0, 105.0, 50.0, 1.0, 5, 65, 65,
                     en.ExitReason.TAKE_PROFIT),
    m.OrderDenied("A1", "c2", en.DenyReason.MAX_POSITION, "too big", 7, 7, "SPY", "sig-2"),
    m.OrderRejected("A1", "c3", en.ErrorCode.INSUFFICIENT_FUNDS, "no cash", 8, 8),
    m.OrderPendingCancel("A1", "c1", 9, 9), m.OrderCancelRejected("A1", "c1", "late", 10, 10),
    m.OrderCanceled("A1", "c1", 11, 11), m.OrderExpired("A1", "c1", 12, 12),
    m.OrderUpdated("A1", "c1", 5.0, 101.0, None, 13, 13), m.CancelOrder("A1", "c1", 14, 14),
    m.ModifyOrder("A1", "c1", 15, 15, quantity=3.0),
    m.TradingStateChanged("A1", en.TradingState.HALTED, en.StateCause.DAILY_LOSS, "-3 %", 16, 16),
    m.SessionChanged("A1", en.SessionState.CONNECTED, "logged in", 17, 17),
    m.StrategyFailed("sma", "on_bar", "ZeroDivisionError", 18, 18),
    m.TradeTick("SPY", 100.0, 5.0, 19, 19), m.QuoteTick("SPY", 99.9, 100.1, 1.0, 2.0, 20, 20),
    m.Bar("SPY", 1.0, 2.0, 0.5, 1.5, 10.0, 2 * MINUTE_NS, 2 * MINUTE_NS),
]


def test_every_engine_message_lands_in_its_tables(store):
    run = store.begin_run("backtest", {"fast": 10, "symbols": ("SPY",)}, run_id="r1")
    written = store.write_events(run, EVENTS, bar_interval="1m")
    assert written == {"signals": 1, "orders": 1, "order_events": 12, "fills": 1,
                       "positions": 3, "trades": 1, "risk_events": 2, "run_events": 2,
                       "ticks": 1, "quotes": 1, "bars": 1}
    trade = store.rows("SELECT side, quantity, entry_ts_ns, exit_ts_ns, gross_pnl, fees, "
                       "net_pnl, holding_ns, exit_reason FROM trades WHERE run_id = 'r1'")
    assert trade == [("LONG", 10.0, 5, 65, 50.0, 1.0, 49.0, 60, "TAKE_PROFIT")]
    assert store.rows("SELECT kind, reason, state FROM risk_events ORDER BY ts_ns") == [
        ("DENIED", "MAX_POSITION", None), ("STATE", None, "HALTED")]
    assert store.rows("SELECT reason FROM order_events WHERE event = 'OrderRejected'") == [
        ("INSUFFICIENT_FUNDS",)]
    assert store.rows("SELECT stop_loss, take_profit FROM signals") == [(95.0, None)]
    assert store.rows("SELECT interval, ts_ns FROM bars") == [("1m", MINUTE_NS)]  # open time
    assert store.rows("SELECT config FROM runs") == [('{"fast":10,"symbols":["SPY"]}',)]


def test_write_events_is_all_or_nothing(store):
    with pytest.raises(InvalidInput, match="bar_interval"):
        store.write_events("r1", EVENTS)                      # a Bar without an interval
    assert sum(store.count(t) for t in TABLES if t != "schema_version") == 0


def test_runs_record_start_end_and_status(store):
    run = store.begin_run("paper", None, started_ns=100)
    store.end_run(run, "failed", ended_ns=200)
    assert store.rows("SELECT kind, started_ns, ended_ns, status FROM runs") == [
        ("paper", 100, 200, "failed")]
    with pytest.raises(UnknownName, match="unknown run"):
        store.end_run("nope")


# --- the writer --------------------------------------------------------------------------

def test_writer_flushes_on_size_and_close_loses_nothing(store):
    writer = store.writer("r1", StoreConfig(path=str(store.path), flush_rows=10))
    reader = store.reader()
    for i in range(25):
        writer.record(signal(i))
    assert (writer.flushes, writer.pending, reader.count("signals")) == (2, 5, 20)
    writer.close()
    assert reader.count("signals") == 25 and writer.pending == 0
    with pytest.raises(InvalidInput, match="closed"):
        writer.record(signal(99))


def test_writer_flushes_on_time_when_the_host_asks(store):
    clock = iter(range(0, 10**12, 10**8)).__next__          # 0.1 s per reading
    writer = store.writer("r1", StoreConfig(path=str(store.path), flush_interval_s=1.0),
                          clock=clock)
    writer.record_many(signal(i) for i in range(3))
    assert writer.maybe_flush(now_ns=500_000_000) == 0       # 0.5 s since the last flush
    assert writer.maybe_flush(now_ns=1_000_000_000) == 3
    assert store.count("signals") == 3


def test_writer_appends_numpy_columns_with_the_run_filled_in(store):
    with store.writer("r1") as writer:
        writer.append("latency", {"hop": "signal->fill", "ns": np.arange(1000)})
        writer.append("equity", {"account_id": "A1", "ts_ns": np.arange(3),
                                 "equity": np.array([1.0, 2.0, 3.0])})
    assert store.rows("SELECT run_id, count(*), sum(ns) FROM latency GROUP BY 1") == [
        ("r1", 1000, 499_500)]
    assert store.rows("SELECT sum(equity) FROM equity WHERE account_id = 'A1'") == [(6.0,)]


CRASHING_WRITER = """
import os, signal, sys
from data.config import StoreConfig
from data.store import Store
from engine.enums import SignalSide
from engine.messages import Signal
path, mode = sys.argv[1], sys.argv[2]
store = Store.open(path)
writer = store.writer("r1", StoreConfig(path=path, flush_rows=100, flush_interval_s=3600))
for i in range(337):
    writer.record(Signal(f"s{i}", "sma", "SPY", SignalSide.LONG, i, i))
assert (writer.flushes, writer.pending) == (3, 37)
if mode == "close":
    writer.close()
if mode == "sigkill":
    os.kill(os.getpid(), signal.SIGKILL)
os._exit(0)                                  # no atexit, no close: a crash
"""


@pytest.mark.parametrize("mode, kept", [("exit", 300), ("sigkill", 300), ("close", 337)])
def test_a_crash_loses_exactly_the_unflushed_rows(tmp_path, mode, kept):
    path = tmp_path / "crash.duckdb"
    run_python(CRASHING_WRITER, str(path), mode)
    with Store.open(path, read_only=True) as store:
        assert store.count("signals", run_id="r1") == kept
        assert store.rows("SELECT max(ts_event) FROM signals") == [(kept - 1,)]


# --- readers while a run writes ----------------------------------------------------------

def test_a_reader_thread_sees_whole_batches_while_the_writer_goes_on(store):
    writer = store.writer("r1", StoreConfig(path=str(store.path), flush_rows=50))
    reader = store.reader()
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(reader.count("signals"))

    thread = threading.Thread(target=watch)
    thread.start()
    for i in range(2000):
        writer.record(signal(i))
    writer.close()
    stop.set()
    thread.join()
    assert seen == sorted(seen) and all(n % 50 == 0 for n in seen)
    assert len(set(seen)) > 1 and reader.count("signals") == 2000
    reader.close()


OTHER_PROCESS = """
import sys
from data.store import Store, StoreError
live, snap = sys.argv[1], sys.argv[2]
try:
    Store.open(live, read_only=True)
    print("opened")
except StoreError as exc:
    print(type(exc).__name__)
with Store.open(snap, read_only=True) as store:
    print(store.count("signals"))
"""


def test_other_processes_read_a_snapshot_while_the_live_file_is_locked(store, tmp_path):
    snap = tmp_path / "snapshot.duckdb"
    config = StoreConfig(path=str(store.path), snapshot_path=str(snap), flush_rows=10**6,
                         snapshot_interval_s=30.0)
    writer = store.writer("r1", config, clock=lambda: 0)
    writer.record_many(signal(i) for i in range(100))
    writer.maybe_flush(now_ns=31 * 10**9)                   # flushes, then snapshots
    assert run_python(OTHER_PROCESS, str(store.path), str(snap)).split() == ["StoreLocked", "100"]
    writer.record_many(signal(i) for i in range(50))
    writer.maybe_flush(now_ns=62 * 10**9)
    assert run_python(OTHER_PROCESS, str(store.path), str(snap)).split()[1] == "150"
    assert not list(tmp_path.glob("*.partial*"))


def test_opening_a_locked_file_is_a_clear_error(tmp_path):
    path = tmp_path / "held.duckdb"
    Store.open(path).close()
    hold = subprocess.Popen([sys.executable, "-c", "import sys, time; from data.store import "
                             "Store; s = Store.open(sys.argv[1]); print('ready', flush=True); "
                             "time.sleep(30)", str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert hold.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked, match="open for writing by another process"):
            Store.open(path)
    finally:
        hold.kill()
        hold.wait()


# --- bars from ticks, export -------------------------------------------------------------

@pytest.fixture(scope="module")
def spy_store(tmp_path_factory):
    ticks = read_lean_trades(refdata_path("20131008_trade.zip"))
    with Store.open(tmp_path_factory.mktemp("spy") / "spy.duckdb") as store:
        store.import_parsed(ticks)
        yield store, ticks.columns


def numpy_bars(ticks: dict[str, np.ndarray], interval_ns: int) -> dict[str, np.ndarray]:
    """Reference time bars: sort by (ts, seq), cut at multiples of the interval."""
    order = np.lexsort((ticks["seq"], ticks["ts_ns"]))
    ts, price, size = ticks["ts_ns"][order], ticks["price"][order], ticks["size"][order]
    bucket = ts - ts % interval_ns
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    volume = np.add.reduceat(size, starts)
    return {"ts_ns": bucket[starts], "open": price[starts],
            "high": np.maximum.reduceat(price, starts), "low": np.minimum.reduceat(price, starts),
            "close": price[ends], "volume": volume,
            "vwap": np.add.reduceat(price * size, starts) / volume,
            "trades": ends - starts + 1}


@pytest.mark.parametrize("interval, ns", [("1m", MINUTE_NS), ("7s", 7 * 10**9),
                                          ("1h", 60 * MINUTE_NS)])
def test_bars_from_ticks_match_an_independent_numpy_computation(spy_store, interval, ns):
    store, ticks = spy_store
    got, want = store.bars_from_ticks("SPY", interval), numpy_bars(ticks, ns)
    assert len(got["ts_ns"]) == len(want["ts_ns"]) and int(got["trades"].sum()) == 451_545
    for name in ("ts_ns", "open", "high", "low", "close", "volume", "trades"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    np.testing.assert_allclose(got["vwap"], want["vwap"], rtol=1e-12)


def test_bars_from_ticks_can_be_saved_and_resaved_without_doubling(spy_store):
    store, _ = spy_store
    first = store.bars_from_ticks("SPY", "5m", start_ns=None, save=True)
    store.bars_from_ticks("SPY", "5m", save=True)
    assert store.count("bars") == len(first["ts_ns"]) == 187
    window = store.bars_from_ticks("SPY", "5m", start_ns=int(first["ts_ns"][10]),
                                   end_ns=int(first["ts_ns"][20]))
    np.testing.assert_array_equal(window["close"], first["close"][10:20])


def test_tables_and_queries_export_to_parquet(store, tmp_path):
    store.import_parsed(read_yahoo(refdata_path(ORCL), "ORCL"))
    assert store.export_parquet(tmp_path / "bars.parquet", table="bars") == 5036
    rows = store.export_parquet(tmp_path / "q.parquet",
                                query="SELECT ts_ns, close FROM bars WHERE close > 40")
    back = read_parquet(tmp_path / "q.parquet")
    assert list(back) == ["ts_ns", "close"] and len(back["close"]) == rows > 0
    assert (back["close"] > 40).all()
    with pytest.raises(UnknownName):
        store.export_parquet(tmp_path / "x.parquet", table="nope")


# --- the documentation's examples run as written ------------------------------------------

DOC = ROOT / "docs" / "data.md"              # merged into the README later: then it is gone
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text() if DOC.exists() else "", re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_data_examples_run(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                # nothing lands in the repository
    block = BLOCKS[index]
    exec(compile(block.replace("../shared/data", str(refdata_path())), f"docs/data.md "
                 f"example {index + 1}", "exec"), {})
    assert capsys.readouterr().out.strip()
