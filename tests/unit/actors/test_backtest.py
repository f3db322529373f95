"""The event-driven backtest: backtrader parity on ORCL, fill rules, ticks, the journal,
protective exits and bad input."""

from __future__ import annotations

import math
import re
import types
from pathlib import Path

import numpy as np
import pytest

from actors.backtest import BacktestConfig, FillAt, drive, run_backtest
from actors.backtest_data import BarSeries, TickSeries, load_data
from data.importers import ImportFailed
from data.store import Store
from engine.enums import ExitReason, OrderSide
from engine.errors import ConfigError, UnknownName
from engine.exits import ExitConfig
from engine.sizing import SizingConfig, SizingMode
from tests.refdata import ORCL, date_ns, refdata_path

BT_10_30 = {"fast": "10", "slow": "30"}


@pytest.fixture(scope="module")
def orcl() -> BarSeries:
    return load_data(refdata_path(ORCL), "yahoo", "ORCL")


def synthetic_bars(closes: list[float], symbol: str = "T") -> BarSeries:
    c = np.array(closes, dtype=float)
    o = np.r_[c[0], c[:-1]]
    day = 86_400_000_000_000
    return BarSeries(symbol, day, np.arange(len(c), dtype=np.int64) * day, o,
                     np.maximum(o, c) * 1.001, np.minimum(o, c) * 0.999, c,
                     np.full(len(c), 1000.0))


# --- parity with backtrader (../shared/data/README.md) -------------------------------------

@pytest.mark.parametrize(("lot", "expected"), [(1e-8, 508_192.3587851795),
                                                (1.0, 508_190.3658970004)])
def test_orcl_sma_cross_10_30_all_in_next_open_matches_backtrader(orcl, lot, expected):
    r = run_backtest(orcl, BacktestConfig(params=BT_10_30, lot_size=lot))
    assert r.final_value == pytest.approx(expected, abs=1e-6)
    assert (len(r.fills), len(r.trades), r.open_trades) == (195, 97, 1)
    first = r.fills[0]
    assert first.side is OrderSide.BUY and first.last_px == 2.37037
    assert first.ts_event == date_ns("1995-05-12")      # the open of the day after the cross


def test_whole_lots_buy_whole_units_and_never_overdraw(orcl):
    r = run_backtest(orcl, BacktestConfig(params=BT_10_30, lot_size=1.0, fee_bps=10))
    assert all(f.last_qty == math.floor(f.last_qty) for f in r.fills)
    assert r.cash >= 0 and np.all(r.equity > 0)
    assert r.fees == pytest.approx(sum(f.fee for f in r.fills))
    assert r.fees == pytest.approx(sum(f.last_qty * f.last_px * 1e-3 for f in r.fills))


def test_fill_close_trades_at_the_signal_bars_close(orcl):
    r = run_backtest(orcl, BacktestConfig(params=BT_10_30, fill="close"))
    ends = orcl.ts_ns + orcl.interval_ns
    for fill in r.fills[:20]:
        i = int(np.searchsorted(ends, fill.ts_event))
        assert ends[i] == fill.ts_event and fill.last_px == orcl.close[i]
    opens = run_backtest(orcl, BacktestConfig(params=BT_10_30))
    assert len(r.fills) == len(opens.fills) == 195
    assert r.final_value != opens.final_value


def test_next_open_acts_one_bar_later_than_close_at_that_bars_open(orcl):
    at_close = run_backtest(orcl, BacktestConfig(params=BT_10_30, fill="close"))
    at_open = run_backtest(orcl, BacktestConfig(params=BT_10_30))
    ends = orcl.ts_ns + orcl.interval_ns
    for a, b in zip(at_close.fills, at_open.fills, strict=False):
        i = int(np.searchsorted(ends, a.ts_event))
        assert b.ts_event == orcl.ts_ns[i + 1] and b.last_px == orcl.open[i + 1]
        assert a.side is b.side


def test_equity_curve_is_cash_plus_position_at_each_close(orcl):
    r = run_backtest(orcl, BacktestConfig(params=BT_10_30, fee_bps=2))
    assert len(r.equity) == len(orcl)
    assert r.equity[-1] == pytest.approx(r.final_value, rel=1e-12)
    # independent replay of the fills onto the closes
    cash, qty, curve = 100_000.0, 0.0, []
    fills = iter(r.fills)
    nxt = next(fills, None)
    for end, close in zip(orcl.ts_ns + orcl.interval_ns, orcl.close, strict=True):
        while nxt is not None and nxt.ts_event < end:     # fills at opens, before the end
            cash -= nxt.side.sign * nxt.last_qty * nxt.last_px + nxt.fee
            qty += nxt.side.sign * nxt.last_qty
            nxt = next(fills, None)
        curve.append(cash + qty * close)
    np.testing.assert_allclose(r.equity, curve, rtol=1e-12)


# --- sizing, shorting, exits ---------------------------------------------------------------

def test_fixed_quantity_buys_that_many_and_cash_limits_it():
    bars = synthetic_bars([10.0] * 5 + [9.0] * 10 + [12.0] * 10 + [8.0] * 10)
    r = run_backtest(bars, BacktestConfig(params={"fast": 2, "slow": 4},
                                          sizing=SizingConfig(SizingMode.FIXED_QUANTITY,
                                                              quantity=7)))
    buys = [f for f in r.fills if f.side is OrderSide.BUY]
    assert buys and all(f.last_qty == 7 for f in buys)
    big = run_backtest(bars, BacktestConfig(params={"fast": 2, "slow": 4}, cash=50.0,
                                            sizing=SizingConfig(SizingMode.FIXED_QUANTITY,
                                                                quantity=7)))
    assert big.fills == [] and big.denials and big.cash == 50.0


def test_allow_short_opens_a_short_on_a_cross_down():
    bars = synthetic_bars([10.0] * 4 + [9.0] * 3 + [12.0] * 10 + [8.0] * 10)
    r = run_backtest(bars, BacktestConfig(params={"fast": 2, "slow": 4, "allow_short": "true"},
                                          allow_short=True))
    assert r.position < 0
    long_only = run_backtest(bars, BacktestConfig(params={"fast": 2, "slow": 4}))
    assert long_only.position == 0 and len(long_only.trades) == 1


def test_trailing_stop_closes_positions_and_records_the_reason(orcl):
    r = run_backtest(orcl, BacktestConfig(params=BT_10_30, exits=ExitConfig(trailing_pct=3)))
    reasons = {t.reason for t in r.trades}
    assert ExitReason.TRAILING_STOP in reasons
    plain = run_backtest(orcl, BacktestConfig(params=BT_10_30))
    assert len(r.trades) >= len(plain.trades)


def test_every_order_ends_in_a_terminal_state(orcl):
    from actors.backtest import Backtest
    bt = Backtest(BacktestConfig(params=BT_10_30, exits=ExitConfig(stop_loss_pct=2)), "ORCL")
    bt.run(orcl)
    assert bt.account.orders and all(o.is_terminal for o in bt.account.orders.values())


# --- ticks ---------------------------------------------------------------------------------

def test_spy_ticks_trade_at_the_first_print_after_the_bar():
    ticks = load_data(refdata_path("20131008_trade.zip"), "lean-ticks")
    assert isinstance(ticks, TickSeries) and ticks.symbol == "SPY"
    r = run_backtest(ticks, BacktestConfig(params={"fast": "5", "slow": "20"}, fill="tick"))
    assert r.ticks == len(ticks) and r.bars > 800 and r.fills
    minute = 60_000_000_000
    firsts = {}
    for fill in r.fills:       # an order fills up to each print's size, so over several
        i = int(np.searchsorted(ticks.ts_ns, fill.ts_event))
        assert ticks.ts_ns[i] == fill.ts_event and fill.last_qty <= ticks.size[i:].max()
        firsts.setdefault(fill.client_order_id, (i, fill))
    for i, fill in firsts.values():
        assert fill.last_px in ticks.price[i:i + 50]
        assert i > 0 and ticks.ts_ns[i - 1] // minute < fill.ts_event // minute


def test_tick_fill_rule_needs_ticks(orcl):
    with pytest.raises(ConfigError, match="tick"):
        run_backtest(orcl, BacktestConfig(params=BT_10_30, fill=FillAt.TICK))


# --- the journal -----------------------------------------------------------------------------

def test_a_recorded_backtest_is_a_run_analytics_can_read(orcl, tmp_path):
    db = str(tmp_path / "bt.duckdb")
    r = run_backtest(orcl, BacktestConfig(params=BT_10_30, db=db))
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT kind, status FROM runs WHERE run_id = ?", [r.run_id]) == [
            ("backtest", "finished")]
        assert store.count("fills", r.run_id) == 195
        assert store.count("trades", r.run_id) == 97
        assert store.count("equity", r.run_id) == len(orcl)
        last = store.rows("SELECT equity FROM equity WHERE run_id = ? ORDER BY ts_ns DESC "
                          "LIMIT 1", [r.run_id])[0][0]
    assert last == pytest.approx(r.final_value, rel=1e-12)
    from data.analytics import analyze
    with Store.open(db, read_only=True) as store:
        (run,) = analyze(store, r.run_id)
    assert (run.trades, run.fills, run.samples) == (97, 195, len(orcl))
    assert run.net_pnl == pytest.approx(sum(t.realized_pnl - t.fees for t in r.trades))
    assert run.end_equity == pytest.approx(r.final_value, rel=1e-12)


def test_a_backtest_that_raises_is_recorded_as_failed(orcl, tmp_path, monkeypatch):
    db = str(tmp_path / "bt.duckdb")
    from actors import backtest as module

    def boom(self, i):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(module.Backtest, "_snapshot", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_backtest(orcl, BacktestConfig(params=BT_10_30, db=db))
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT status FROM runs") == [("failed",)]


# --- bad input -------------------------------------------------------------------------------

def test_a_malformed_row_fails_the_load_with_its_line(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("date,open,high,low,close,volume\n2020-01-01,1,2,0.5,1.5,10\n"
                    "2020-01-02,1,2,0.5,nan,10\n2020-01-03,1,2,0.5,1.5,10\n")
    with pytest.raises(ImportFailed, match="line 3"):
        load_data(path, "ohlcv", "X")


@pytest.mark.parametrize(("kwargs", "key"), [
    ({"fill": "tomorrow"}, "fill"), ({"cash": -5.0}, "cash"), ({"cash": math.nan}, "cash"),
    ({"lot_size": 0.0}, "lot_size"), ({"fee_bps": -1.0}, "fee_bps"),
    ({"bar_seconds": 0}, "bar_seconds")])
def test_bad_config_names_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        BacktestConfig(**kwargs)


def test_unknown_format_and_strategy_are_named(orcl, tmp_path):
    with pytest.raises(UnknownName, match="format"):
        load_data(tmp_path, "csvx", "X")
    with pytest.raises(UnknownName, match="strategy"):
        run_backtest(orcl, BacktestConfig(strategy="nope"))


def test_a_strategy_that_raises_is_stopped_and_the_run_completes(orcl):
    r = run_backtest(orcl, BacktestConfig(strategy="sma_cross", params=BT_10_30))
    assert r.failure is None
    from strategies.base import Strategy
    from strategies.config import SmaCrossConfig
    from strategies.registry import STRATEGIES

    class Broken(Strategy[SmaCrossConfig]):
        def on_bar(self, bar):
            if bar.close > 30:
                raise ZeroDivisionError("oops")

    STRATEGIES["broken_test"] = (Broken, SmaCrossConfig)
    try:
        r = run_backtest(orcl, BacktestConfig(strategy="broken_test"))
    finally:
        del STRATEGIES["broken_test"]
    assert r.failure is not None and "ZeroDivisionError" in r.failure.error
    assert r.bars == len(orcl) and r.final_value == 100_000.0


def test_drive_refuses_a_coroutine_that_waits_on_the_loop():
    @types.coroutine
    def parks():
        yield object()          # what awaiting a pending future does under a loop

    async def waits():
        await parks()
    with pytest.raises(RuntimeError, match="future"):
        drive(waits())


# --- the command line and the docs --------------------------------------------------------

def test_cli_json_prints_the_figures_the_issue_names(capsys):
    import orjson

    from actors.cli import main
    rc = main(["backtest", "--data", str(refdata_path(ORCL)), "--format", "yahoo",
               "--param", "fast=10", "--param", "slow=30", "--lot-size", "1", "--no-db",
               "--json"])
    out = orjson.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["final_value"] == pytest.approx(508_190.3658970004, abs=1e-6)
    assert (out["fills"], out["closed_trades"], out["open_trades"]) == (195, 97, 1)
    assert {"cash", "position", "run_id"} <= set(out)


@pytest.mark.parametrize(("args", "named"), [
    (["--strategy", "nope"], "strategy"), (["--param", "fast"], "--param"),
    (["--param", "sloww=3"], "sloww"), (["--fill", "tick"], "--fill"),
    (["--sizing", "fixed"], "--quantity")])
def test_cli_bad_arguments_give_one_line_naming_the_problem(args, named, capsys):
    from actors.cli import main
    rc = main(["backtest", "--data", str(refdata_path(ORCL)), "--format", "yahoo",
               "--no-db", *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and named in err and len(err.splitlines()) == 1


def test_cli_records_a_run_the_report_reads(tmp_path, capsys):
    from actors.cli import main
    db = str(tmp_path / "bt.duckdb")
    assert main(["backtest", "--data", str(refdata_path(ORCL)), "--format", "yahoo",
                 "--param", "fast=10", "--param", "slow=30", "--db", db]) == 0
    assert "final_value" in capsys.readouterr().out
    out = tmp_path / "r.html"
    assert main(["report", "latest", "--db", db, "--out", str(out)]) == 0
    assert "equity" in out.read_text().lower()


DOC = Path(__file__).resolve().parents[3] / "docs" / "backtest.md"
DOC_BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(DOC_BLOCKS)))
def test_docs_backtest_examples_run(index, capsys):
    block = DOC_BLOCKS[index].replace("../shared/data", str(refdata_path()))
    exec(compile(block, f"docs/backtest.md example {index + 1}", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_bars_and_ticks_load_from_the_store_as_from_the_file(orcl, tmp_path):
    from actors.backtest_data import load_from_store
    from data.importers import read_lean_trades, read_yahoo
    db = str(tmp_path / "md.duckdb")
    zip_path = refdata_path("20131008_trade.zip")
    with Store.open(db) as store:
        store.import_parsed(read_yahoo(refdata_path(ORCL), "ORCL"))
        store.import_parsed(read_lean_trades(zip_path))
    bars = load_from_store(db, "ORCL")
    for key in ("ts_ns", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(bars, key), getattr(orcl, key))
    assert bars.interval_ns == orcl.interval_ns
    ticks = load_from_store(db, "SPY", ticks=True)
    direct = load_data(zip_path, "lean-ticks")
    np.testing.assert_array_equal(ticks.price, direct.price)
    np.testing.assert_array_equal(ticks.ts_ns, direct.ts_ns)
    with pytest.raises(UnknownName, match="ORCL"):
        load_from_store(db, "MSFT")
    with pytest.raises(UnknownName, match="interval"):
        load_from_store(db, "ORCL", interval="1m")


def test_protective_exits_fire_tick_by_tick():
    ticks = load_data(refdata_path("20131008_trade.zip"), "lean-ticks")
    r = run_backtest(ticks, BacktestConfig(params={"fast": "5", "slow": "20"}, fill="tick",
                                           exits=ExitConfig(trailing_pct=0.05)))
    exits = [t for t in r.trades if t.reason is ExitReason.TRAILING_STOP]
    assert exits
    for trade in exits:      # the stop trails the best price by 0.05 %: it leaves near it
        assert trade.avg_exit < trade.avg_entry * 1.01
