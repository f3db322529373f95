"""Run analytics: every metric against a hand-checked run (the numbers are worked out in
the comments) and against an independent numpy recomputation on a large random run; the
curve kernel against a plain-Python reference; the edge cases; `phalanx analytics`."""

from __future__ import annotations

import dataclasses
import math
import re
import statistics
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.cli import main
from data.analytics import (
    YEAR_NS,
    CurveStatus,
    GroupMetrics,
    LatencyStats,
    analyze,
    analyze_all,
    curve_stats_nb,
    equity_curves,
    latency,
    run_metrics,
)
from data.store import Store
from engine import enums as en
from engine import messages as m
from engine.errors import InvalidInput, UnknownName

NAN, INF = math.nan, math.inf
DAY = 86_400 * 10**9
U = DAY // 4                       # the hand-checked run's time unit: six hours
ROOT = Path(__file__).resolve().parents[3]


def same(actual: object, expected: object, rel: float = 1e-9) -> bool:
    """Ints, None and strings exactly; floats within `rel`, NaN equal to NaN."""
    if expected is None or isinstance(expected, (str, int, np.integer)):
        return actual == expected
    if math.isnan(expected):
        return isinstance(actual, float) and math.isnan(actual)
    return actual == pytest.approx(expected, rel=rel, abs=1e-12)


def check(metrics: GroupMetrics, rel: float = 1e-9, **expected: object) -> None:
    wrong = {k: (getattr(metrics, k), v) for k, v in expected.items()
             if not same(getattr(metrics, k), v, rel)}
    assert not wrong, f"{metrics.by} {metrics.key}: (actual, expected) {wrong}"


# --- the hand-checked run ----------------------------------------------------------------
#
# Two accounts, two symbols, two strategies; times in units U of six hours, 16 U = 4 days.
#   T1  A X  s1  long 10 @10 -> @12   [2U, 4U]   gross +20  fees 1.0  net +19
#   T3  B X  s1  long  2 @10 -> @15   [3U, 5U]   gross +10  fees 0.5  net  +9.5
#   T2  A Y  s2  short 5 @20 -> @22   [6U, 8U]   gross -10  fees 1.0  net -11
#   T4  B Y  s2  long  1 @100 -> @101 [12U, 13U] gross  +1  fees 1.0  net   0 (break-even)
#   open A X s1  long 4 @11 from 14U to the end (16U)
# Fills (order, strategy of the order): T1 o1 s1 BUY 10@10, o2 '' SELL 10@12 (a protective
# exit: inherits s1); T3 o5 s1 BUY 2@10, o6 s2 SELL 2@15 (an s2 signal closes it: the
# fill is s2's, the round trip stays s1's, who opened it); T2 o3 s2 SELL 5@20,
# o4 s2 BUY 5@22; T4 o7 s2 BUY 1@100, o8 s2 SELL 1@101; open o9 s1 BUY 4@11.
# Fees: 0.5 each, except o5, o6 0.25 and o9 0.2 -> 3.7 over the fills.
# Notional: o1 100, o2 120, o5 20, o6 30, o3 100, o4 110, o7 100, o8 101, o9 44 -> 725.
# Equity (days 0..4): A 100, 110, 99, 99, 108.9 (returns +10%, -10%, 0, +10%); B flat 100.

FILLS = [  # coid, account, symbol, side, qty, price, fee, ts, strategy
    ("o1", "A", "X", "BUY", 10, 10.0, 0.5, 2 * U, "s1"),
    ("o2", "A", "X", "SELL", 10, 12.0, 0.5, 4 * U, ""),
    ("o5", "B", "X", "BUY", 2, 10.0, 0.25, 3 * U, "s1"),
    ("o6", "B", "X", "SELL", 2, 15.0, 0.25, 5 * U, "s2"),
    ("o3", "A", "Y", "SELL", 5, 20.0, 0.5, 6 * U, "s2"),
    ("o4", "A", "Y", "BUY", 5, 22.0, 0.5, 8 * U, "s2"),
    ("o7", "B", "Y", "BUY", 1, 100.0, 0.5, 12 * U, "s2"),
    ("o8", "B", "Y", "SELL", 1, 101.0, 0.5, 13 * U, "s2"),
    ("o9", "A", "X", "BUY", 4, 11.0, 0.2, 14 * U, "s1"),
]
TRIPS = [  # account, symbol, signed peak qty, entry, exit, gross, fees, opened, closed
    ("A", "X", 10, 10.0, 12.0, 20.0, 1.0, 2 * U, 4 * U),
    ("B", "X", 2, 10.0, 15.0, 10.0, 0.5, 3 * U, 5 * U),
    ("A", "Y", -5, 20.0, 22.0, -10.0, 1.0, 6 * U, 8 * U),
    ("B", "Y", 1, 100.0, 101.0, 1.0, 1.0, 12 * U, 13 * U),
]


def hand_events() -> list[object]:
    events: list[object] = []
    for coid, acct, sym, side, qty, px, fee, ts, strategy in FILLS:
        side_ = en.OrderSide[side]
        events.append(m.SubmitOrder(acct, coid, sym, side_, qty, ts, ts, strategy_id=strategy))
        events.append(m.OrderFilled(acct, coid, f"V{coid}", f"T{coid}", sym, side_, qty, px,
                                    fee, ts, ts))
    for acct, sym, qty, entry, exit_, gross, fees, opened, closed in TRIPS:
        events.append(m.PositionOpened(acct, sym, qty, entry, opened, opened))
        events.append(m.PositionClosed(acct, sym, qty, entry, exit_, gross, fees, opened,
                                       closed, closed, en.ExitReason.SIGNAL))
    events.append(m.PositionOpened("A", "X", 4, 11.0, 14 * U, 14 * U))
    return events


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    path = tmp_path_factory.mktemp("hand") / "phalanx.duckdb"
    with Store.open(path) as store:
        run = store.begin_run("backtest", {"strategy": "hand"}, run_id="hand")
        store.write_events(run, hand_events())
        store.insert("equity", {
            "run_id": run, "account_id": np.array(["A"] * 5 + ["B"] * 5, dtype=object),
            "ts_ns": np.tile(np.arange(5) * DAY, 2),
            "equity": np.array([100, 110, 99, 99, 108.9] + [100.0] * 5)})
        store.insert("latency", {
            "run_id": run, "hop": np.array(["signal->fill"] * 5 + ["fanout"], dtype=object),
            "ts_ns": np.arange(6), "ns": np.array([100, 200, 300, 400, 1000, 7])})
        store.end_run(run)
    store = Store.open(path, read_only=True)
    yield store
    store.close()


SQRT_DAYS = math.sqrt(365.25)      # 4 samples a day apart: 365.25 periods a year


def test_whole_run_trade_statistics_are_the_hand_checked_ones(hand):
    # nets 19, 9.5, -11, 0: wins 2, losses 1, the break-even counts only in trades;
    # gross 20 + 10 - 10 + 1 = 21, fees 3.5, net 17.5; PF = 28.5 / 11; expectancy 17.5 / 4
    [run] = analyze(hand, "hand")
    check(run, by="run", key="hand", trades=4, wins=2, losses=1, win_rate=0.5,
          gross_pnl=21.0, fees=3.5, net_pnl=17.5, profit_factor=28.5 / 11,
          expectancy=4.375, avg_win=14.25, avg_loss=-11.0)


def test_whole_run_fills_exposure_and_turnover_are_the_hand_checked_ones(hand):
    # union of [2U,5U], [6U,8U], [12U,13U], [14U,16U] = 3 + 2 + 1 + 2 = 8U of 16U;
    # the run's curve 200, 210, 199, 199, 208.9 averages 203.38
    run = run_metrics(hand, "hand")
    check(run, fills=9, fill_fees=3.7, traded_notional=725.0, exposure=0.5,
          avg_equity=203.38, turnover=725.0 / 203.38)


def test_whole_run_curve_metrics_are_the_hand_checked_ones(hand):
    # returns of 200, 210, 199, 199, 208.9: 10/200, -11/210, 0, 9.9/199
    r = [10 / 200, -11 / 210, 0.0, 9.9 / 199]
    mean, sd = statistics.fmean(r), statistics.stdev(r)
    down = math.sqrt((11 / 210) ** 2 / 4)            # one down period out of four
    annual = (208.9 / 200) ** (365.25 / 4) - 1       # 4 days compounded to a year
    run = run_metrics(hand, "hand")
    check(run, samples=5, start_equity=200.0, end_equity=208.9, periods_per_year=365.25,
          total_return=208.9 / 200 - 1, annual_return=annual, volatility=sd * SQRT_DAYS,
          sharpe=mean / sd * SQRT_DAYS, sortino=mean / down * SQRT_DAYS,
          max_drawdown=11 / 210, calmar=annual / (11 / 210))
    assert run.max_drawdown_ns == 3 * DAY            # peak 210 on day 1, never regained


def test_per_account_metrics_are_the_hand_checked_ones(hand):
    a, b = analyze(hand, "hand", by="account")
    # A: T1 +19, T2 -11; fills o1 o2 o3 o4 o9 (fees 2.2, notional 474); open [2U,4U],
    # [6U,8U], [14U,16U] = 6U of 16U. Returns +.1, -.1, 0, +.1: mean .025,
    # stdev sqrt((.075^2 + .125^2 + .025^2 + .075^2) / 3) = sqrt(.0275 / 3),
    # downside sqrt(.1^2 / 4) = .05; drawdown 110 -> 99 = 10%, from day 1 to the end.
    sd = math.sqrt(0.0275 / 3)
    annual = 1.089 ** (365.25 / 4) - 1
    check(a, key="A", trades=2, wins=1, losses=1, net_pnl=8.0, profit_factor=19 / 11,
          fills=5, fill_fees=2.2, traded_notional=474.0, exposure=6 / 16,
          avg_equity=103.38, turnover=474 / 103.38, total_return=0.089,
          volatility=sd * SQRT_DAYS, sharpe=0.025 / sd * SQRT_DAYS,
          sortino=0.025 / 0.05 * SQRT_DAYS, max_drawdown=0.1, annual_return=annual,
          calmar=annual / 0.1, max_drawdown_ns=3 * DAY)
    # B: T3 +9.5, T4 0: all winners among the decided trades, so PF inf; flat equity:
    # zero variance and no drawdown make Sharpe, Sortino and Calmar NaN, drawdown 0.
    check(b, key="B", trades=2, wins=1, losses=0, win_rate=0.5, net_pnl=9.5,
          profit_factor=INF, avg_loss=NAN, fills=4, fill_fees=1.5, traded_notional=251.0,
          exposure=3 / 16, turnover=2.51, total_return=0.0, annual_return=0.0,
          volatility=0.0, sharpe=NAN, sortino=NAN, calmar=NAN, max_drawdown=0.0,
          max_drawdown_ns=0)


def test_per_strategy_metrics_attribute_trades_to_the_opener_and_fills_to_their_order(
        hand):
    s1, s2 = analyze(hand, "hand", by="strategy")
    # s1 opened T1 and T3 (o6, an s2 order, closed T3) and the open position:
    # fills o1, o2 (inherited), o5, o9: fees 1.45, notional 284; exposure [2U,5U] and
    # [14U,16U] = 5U. Curve on the run's grid: 200 + realised net = 200, 219, 228.5,
    # 228.5, 228.5 (never down: drawdown 0, Sortino and Calmar NaN).
    r = [19 / 200, 9.5 / 219, 0.0, 0.0]
    mean, sd = statistics.fmean(r), statistics.stdev(r)
    check(s1, key="s1", trades=2, wins=2, losses=0, win_rate=1.0, net_pnl=28.5,
          profit_factor=INF, expectancy=14.25, avg_win=14.25, avg_loss=NAN, fills=4,
          fill_fees=1.45, traded_notional=284.0, exposure=5 / 16, avg_equity=220.9,
          turnover=284 / 220.9, sharpe=mean / sd * SQRT_DAYS, sortino=NAN,
          max_drawdown=0.0, max_drawdown_ns=0, calmar=NAN, total_return=0.1425)
    # s2: T2 -11, T4 0: PF 0; fills o3 o4 o6 o7 o8 (fees 2.25, notional 441); exposure
    # [6U,8U] + [12U,13U] = 3U. Curve 200, 200, 189, 189, 189: 5.5% down from the peak
    # regained on day 1 (equal counts as regained) to the end: 3 days.
    check(s2, key="s2", trades=2, wins=0, losses=1, win_rate=0.0, net_pnl=-11.0,
          profit_factor=0.0, expectancy=-5.5, avg_win=NAN, avg_loss=-11.0, fills=5,
          fill_fees=2.25, traded_notional=441.0, exposure=3 / 16, avg_equity=193.4,
          max_drawdown=0.055, max_drawdown_ns=3 * DAY)


# The strategies the engine journals (schema v3) for the hand-checked run: each fill its
# order's, o2 (no strategy) inheriting s1; each round trip its opening fill's.
JOURNALED = {"o1": "s1", "o2": "s1", "o5": "s1", "o6": "s2", "o3": "s2", "o4": "s2",
             "o7": "s2", "o8": "s2", "o9": "s1"}
TRIP_STRATEGY = ["s1", "s1", "s2", "s2"]


def test_journaled_strategies_are_used_as_they_are(hand, tmp_path):
    # The same run journaled by a v3 engine, with orders that name another strategy
    # ("zz"): the journaled strategy_id of fills and round trips decides, with the same
    # figures as the attribution from the orders gives for the hand-checked run.
    events: list[object] = []
    for coid, acct, sym, side, qty, px, fee, ts, _ in FILLS:
        side_ = en.OrderSide[side]
        events.append(m.SubmitOrder(acct, coid, sym, side_, qty, ts, ts, strategy_id="zz"))
        events.append(m.OrderFilled(acct, coid, f"V{coid}", f"T{coid}", sym, side_, qty, px,
                                    fee, ts, ts, strategy_id=JOURNALED[coid]))
    for (acct, sym, qty, entry, exit_, gross, fees, opened, closed), strategy in zip(
            TRIPS, TRIP_STRATEGY, strict=True):
        events.append(m.PositionOpened(acct, sym, qty, entry, opened, opened))
        events.append(m.PositionClosed(acct, sym, qty, entry, exit_, gross, fees, opened,
                                       closed, closed, en.ExitReason.SIGNAL, strategy))
    events.append(m.PositionOpened("A", "X", 4, 11.0, 14 * U, 14 * U))
    with Store.open(tmp_path / "v3.duckdb") as store:
        run = store.begin_run("backtest", {}, run_id="hand")
        store.write_events(run, events)
        store.insert("equity", {
            "run_id": run, "account_id": np.array(["A"] * 5 + ["B"] * 5, dtype=object),
            "ts_ns": np.tile(np.arange(5) * DAY, 2),
            "equity": np.array([100, 110, 99, 99, 108.9] + [100.0] * 5)})
        assert store.rows("SELECT count(*) FROM fills WHERE strategy_id IS NULL") == [(0,)]
        journaled = analyze(store, run, by="strategy")
        curves = equity_curves(store, run, by="strategy")
    expected = analyze(hand, "hand", by="strategy")
    assert [g.key for g in journaled] == ["s1", "s2"]
    for got, want in zip(journaled, expected, strict=True):
        check(got, **{f: getattr(want, f) for f in GroupMetrics.__slots__})
    for got, want in zip(curves, equity_curves(hand, "hand", by="strategy"), strict=True):
        assert got.key == want.key and np.array_equal(got.ts_ns, want.ts_ns)
        assert np.allclose(got.equity, want.equity)


def test_per_symbol_metrics_are_the_hand_checked_ones(hand):
    x, y = analyze(hand, "hand", by="symbol")
    # X: T1, T3 and the open position; [2U,5U] + [14U,16U] = 5U (T1, T3 overlap)
    check(x, key="X", trades=2, net_pnl=28.5, profit_factor=INF, fills=5, fill_fees=1.7,
          traded_notional=314.0, exposure=5 / 16)
    check(y, key="Y", trades=2, net_pnl=-11.0, profit_factor=0.0, fills=4, fill_fees=2.0,
          traded_notional=411.0, exposure=3 / 16, max_drawdown=0.055)


def test_latency_percentiles_per_hop_interpolate_linearly(hand):
    # 100, 200, 300, 400, 1000: p90 at rank 3.6 = 400 + .6 x 600, p99 at 3.96
    fanout, fill = latency(hand, "hand")
    assert fanout == LatencyStats("fanout", 1, 7.0, 7.0, 7.0, 7.0, 7)
    assert (fill.hop, fill.count, fill.max) == ("signal->fill", 5, 1000)
    assert [fill.mean, fill.p50, fill.p90, fill.p99] == pytest.approx([400, 300, 760, 976])


def test_given_periods_per_year_replace_the_inferred_sampling_rate(hand):
    a = analyze(hand, "hand", by="account", periods_per_year=252)[0]
    sd = math.sqrt(0.0275 / 3)
    check(a, periods_per_year=252.0, sharpe=0.025 / sd * math.sqrt(252),
          annual_return=1.089 ** (252 / 4) - 1)


def test_equity_curves_are_the_ones_measured(hand):
    [run] = equity_curves(hand, "hand")
    assert run.ts_ns.tolist() == [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY]
    assert run.equity.tolist() == pytest.approx([200, 210, 199, 199, 208.9])
    assert run.returns() == pytest.approx([0.05, -11 / 210, 0.0, 9.9 / 199])
    s1, s2 = equity_curves(hand, "hand", by="strategy")
    assert (s1.key, s1.equity.tolist()) == ("s1", [200, 219, 228.5, 228.5, 228.5])
    assert (s2.key, s2.equity.tolist()) == ("s2", [200, 200, 189, 189, 189])


# --- edge cases --------------------------------------------------------------------------

def new_run(tmp_path, name: str = "r") -> tuple[Store, str]:
    store = Store.open(tmp_path / "phalanx.duckdb")
    return store, store.begin_run("backtest", None, run_id=name)


def equity_rows(store: Store, run: str, account: str, days: list[float],
                values: list[float]) -> None:
    store.insert("equity", {"run_id": run, "account_id": account,
                            "ts_ns": (np.array(days) * DAY).astype(np.int64),
                            "equity": np.array(values, dtype=float)})


def test_a_run_without_trades_has_nan_trade_ratios_and_no_exposure(tmp_path):
    store, run = new_run(tmp_path)
    equity_rows(store, run, "A", [0, 1, 2], [100, 101, 102])
    check(run_metrics(store, run), trades=0, wins=0, losses=0, net_pnl=0.0, fees=0.0,
          win_rate=NAN, profit_factor=NAN, expectancy=NAN, avg_win=NAN, avg_loss=NAN,
          fills=0, traded_notional=0.0, turnover=0.0, exposure=0.0, samples=3)
    assert analyze(store, run, by="strategy") == [] and latency(store, run) == []


def test_an_empty_run_has_one_row_of_nan_and_no_groups(tmp_path):
    store, run = new_run(tmp_path)
    check(run_metrics(store, run), trades=0, samples=0, start_equity=NAN, sharpe=NAN,
          max_drawdown=NAN, max_drawdown_ns=None, exposure=NAN, turnover=NAN,
          periods_per_year=NAN)
    assert analyze(store, run, by="account") == []


def test_break_even_trades_only_give_a_nan_profit_factor(tmp_path):
    store, run = new_run(tmp_path)
    store.insert("trades", {"run_id": run, "account_id": "A", "symbol": "X",
                            "entry_ts_ns": np.array([0, 2]), "exit_ts_ns": np.array([1, 3]),
                            "gross_pnl": np.array([1.0, 2.0]), "fees": np.array([1.0, 2.0])})
    check(run_metrics(store, run), trades=2, wins=0, losses=0, win_rate=0.0,
          profit_factor=NAN, expectancy=0.0, exposure=2 / 3)


def test_constant_returns_have_zero_variance_so_sharpe_and_sortino_are_nan(tmp_path):
    store, run = new_run(tmp_path)
    equity_rows(store, run, "A", [0, 1, 2, 3], [100, 200, 400, 800])   # r = 1, 1, 1
    check(run_metrics(store, run), volatility=0.0, sharpe=NAN, sortino=NAN,
          max_drawdown=0.0, max_drawdown_ns=0, calmar=NAN, total_return=7.0)


def test_a_non_positive_equity_sample_leaves_the_curve_ratios_undefined(tmp_path):
    store, run = new_run(tmp_path)
    equity_rows(store, run, "A", [0, 1, 2], [100, 0, 50])
    check(run_metrics(store, run), samples=3, end_equity=50.0, sharpe=NAN, sortino=NAN,
          max_drawdown=NAN, max_drawdown_ns=None, total_return=NAN)


def test_a_single_sample_has_no_returns_and_no_drawdown(tmp_path):
    store, run = new_run(tmp_path)
    equity_rows(store, run, "A", [1], [100])
    check(run_metrics(store, run), samples=1, total_return=0.0, sharpe=NAN,
          periods_per_year=NAN, annual_return=NAN, max_drawdown=0.0, max_drawdown_ns=0)


def test_accounts_sampled_at_different_times_are_summed_as_of_each_time(tmp_path):
    store, run = new_run(tmp_path)
    equity_rows(store, run, "A", [0, 2], [100, 120])
    equity_rows(store, run, "B", [1, 3], [50, 60])      # before day 1 B counts as 50
    [curve] = equity_curves(store, run)
    assert curve.ts_ns.tolist() == [0, DAY, 2 * DAY, 3 * DAY]
    assert curve.equity.tolist() == [150, 150, 170, 180]


def test_a_duplicate_equity_sample_keeps_the_row_written_last(tmp_path):
    store, run = new_run(tmp_path)
    equity_rows(store, run, "A", [0, 1], [100, 90])
    equity_rows(store, run, "A", [1], [110])
    assert equity_curves(store, run)[0].equity.tolist() == [100, 110]


def test_a_big_gain_over_a_short_span_annualises_to_inf_rather_than_failing(tmp_path):
    store, run = new_run(tmp_path)
    equity_rows(store, run, "A", [0, 1e-9], [100, 200])   # doubled in 86 us
    check(run_metrics(store, run), total_return=1.0, annual_return=INF, calmar=NAN)


def test_periods_per_year_must_be_a_positive_number(tmp_path):
    store, run = new_run(tmp_path)
    for bad in (0, -252, NAN, INF):
        with pytest.raises(InvalidInput, match="periods_per_year"):
            analyze(store, run, periods_per_year=bad)


def test_an_order_journaled_twice_counts_its_fills_once(tmp_path):
    store, run = new_run(tmp_path)
    order = m.SubmitOrder("A", "o1", "X", en.OrderSide.BUY, 1, 0, 0, strategy_id="s1")
    store.write_events(run, [order, order, m.OrderFilled("A", "o1", "V", "T", "X",
                                                         en.OrderSide.BUY, 1, 10.0, 0.1, 0, 0)])
    [s1] = analyze(store, run, by="strategy")
    check(s1, key="s1", fills=1, traded_notional=10.0, fill_fees=0.1)


def test_a_journaled_strategy_wins_over_the_attribution_in_a_mixed_run(tmp_path):
    # one fill journaled with "j" (its order says "o"), one from before v3 (NULL): the
    # run falls back to the attribution, which keeps the journaled strategy
    store, run = new_run(tmp_path)
    buy, sell = en.OrderSide.BUY, en.OrderSide.SELL
    store.write_events(run, [
        m.SubmitOrder("A", "o1", "X", buy, 1, 0, 0, strategy_id="o"),
        m.OrderFilled("A", "o1", "V1", "T1", "X", buy, 1, 10.0, 0.1, 0, 0, strategy_id="j"),
        m.SubmitOrder("A", "o2", "X", sell, 1, 1, 1, strategy_id="o")])
    store.insert("fills", {"run_id": run, "account_id": "A", "client_order_id": "o2",
                           "symbol": "X", "side": "SELL", "quantity": 1.0, "price": 11.0,
                           "fee": 0.1, "ts_event": 1, "ts_init": 1})
    j, o = analyze(store, run, by="strategy")
    check(j, key="j", fills=1, traded_notional=10.0)
    check(o, key="o", fills=1, traded_notional=11.0)


def test_trades_no_strategy_can_be_attributed_to_are_the_none_group(tmp_path):
    store, run = new_run(tmp_path)
    store.insert("trades", {"run_id": run, "account_id": "A", "symbol": "X",
                            "entry_ts_ns": np.array([0]), "exit_ts_ns": np.array([1]),
                            "gross_pnl": np.array([5.0]), "fees": np.array([1.0])})
    [none] = analyze(store, run, by="strategy")
    check(none, key=None, trades=1, net_pnl=4.0, fills=0)


def test_an_unknown_run_is_an_unknown_name_listing_the_runs(tmp_path):
    store, _ = new_run(tmp_path, "backtest-1")
    with pytest.raises(UnknownName, match=r"unknown run 'nope'; known: backtest-1"):
        analyze(store, "nope")
    with pytest.raises(UnknownName, match="unknown run 'nope'"):
        latency(store, "nope")
    with pytest.raises(UnknownName, match=r"unknown grouping 'desk'; known: account, "):
        analyze(store, "backtest-1", by="desk")


# --- the curve kernel against a plain-Python reference -----------------------------------

def reference_curve_stats(ts: list[int], eq: list[float]) -> tuple:
    """Plain Python: (mean, stdev, downside, max drawdown, longest ns, status)."""
    if not eq:
        return NAN, NAN, NAN, NAN, -1, CurveStatus.EMPTY
    if not all(0 < x < INF for x in eq):
        return NAN, NAN, NAN, NAN, -1, CurveStatus.NOT_POSITIVE
    deepest, longest, peak_at = 0.0, 0, 0
    for i in range(1, len(eq)):
        if eq[i] >= eq[peak_at]:                     # back at or above the peak
            if i - 1 != peak_at:
                longest = max(longest, ts[i] - ts[peak_at])
            peak_at = i
        deepest = max(deepest, 1 - eq[i] / eq[peak_at])
    if peak_at != len(eq) - 1:
        longest = max(longest, ts[-1] - ts[peak_at])
    r = [b / a - 1 for a, b in zip(eq, eq[1:], strict=False)]
    if not r:
        return NAN, NAN, NAN, deepest, longest, CurveStatus.ONE_SAMPLE
    sd = statistics.stdev(r) if len(r) > 1 else NAN
    down = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))
    return statistics.fmean(r), sd, down, deepest, longest, CurveStatus.OK


def run_kernel(curves: list[tuple[list[int], list[float]]]) -> list[tuple]:
    offsets = np.cumsum([0] + [len(e) for _, e in curves]).astype(np.int64)
    ts = np.array([t for c, _ in curves for t in c], dtype=np.int64)
    eq = np.array([x for _, e in curves for x in e], dtype=np.float64)
    cols = curve_stats_nb(offsets, ts, eq)
    return [tuple(c[k] for c in cols) for k in range(len(curves))]


def test_the_kernel_finds_the_deepest_and_the_longest_drawdown_apart():
    # 120 at t1 is regained at t4 (3 long, 25% deep); 130 at t5 falls to 65 (50%) and is
    # not regained by t7 (2 long)
    [(_, _, _, deepest, longest, status)] = run_kernel(
        [([0, 1, 2, 3, 4, 5, 6, 7], [100, 120, 90, 100, 120, 130, 65, 70])])
    assert (deepest, longest, status) == (0.5, 3, CurveStatus.OK)


equity_values = st.one_of(st.floats(1e-3, 1e6), st.sampled_from([0.0, -1.0, NAN, INF]))
curves_strategy = st.lists(
    st.lists(st.tuples(st.integers(1, 10**12), equity_values), max_size=30)
    .map(lambda pts: (list(np.cumsum([t for t, _ in pts]).tolist()), [x for _, x in pts])),
    max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(curves_strategy)
def test_the_curve_kernel_matches_the_plain_python_reference(curves):
    for got, want in zip(run_kernel(curves), map(lambda c: reference_curve_stats(*c), curves),
                         strict=True):
        assert got[4:] == want[4:]
        for a, b in zip(got[:4], want[:4], strict=True):
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9,
                                                                           abs=1e-12)


# --- a large random run against numpy ----------------------------------------------------

ACCOUNTS, SYMBOLS, STRATEGIES = ["A0", "A1", "A2", "A3"], ["S0", "S1", "S2", "S3", "S4"], \
    ["st0", "st1", "st2"]
TRIPS_PER_PAIR = 2_500                 # 4 x 5 pairs: 50,000 round trips
SAMPLES_PER_ACCOUNT = 25_000           # 100,000 equity rows on four different grids
SEC = 10**9
SPAN_S = 1_000_000
MULTIPLIER = {"S4": 50.0}


def random_run(rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    """Columns of every table, plus the truth the generator knows (`truth`)."""
    trades, fills, orders, positions = [], [], [], []
    for a in ACCOUNTS:
        for s in SYMBOLS:
            n = TRIPS_PER_PAIR
            # entries on distinct 200 s slots, held 1-199 s: about 12% of the time in a
            # position per pair, so the unions over pairs are far from full
            slots = np.sort(rng.choice(SPAN_S // 200, n + 1, replace=False)) * 200
            held = rng.integers(1, 200, n + 1)
            times = np.column_stack([slots, slots + held]).ravel()[:2 * n + 1] * SEC
            entry, exit_ = times[0:2 * n:2], times[1:2 * n:2]
            strategy = rng.choice(STRATEGIES, n)
            gross = rng.normal(0, 100, n).round(2)
            fees = rng.uniform(0, 5, n).round(2)
            even = rng.random(n) < 0.02
            gross[even] = fees[even]                       # break-even trades
            qty = rng.integers(1, 100, n).astype(float)
            trades.append({"account_id": np.full(n, a, object), "symbol": np.full(n, s, object),
                           "entry_ts_ns": entry, "exit_ts_ns": exit_, "gross_pnl": gross,
                           "fees": fees, "truth": strategy})
            positions.append({"account_id": np.full(n + 1, a, object),
                              "symbol": np.full(n + 1, s, object),
                              "ts_ns": times[0::2], "event": np.full(n + 1, "OPENED", object)})
            # the exit order: 50% no strategy (inherits), 30% the opener's, 20% another's
            pick = rng.random(n)
            exit_strategy = np.where(pick < 0.5, "", np.where(
                pick < 0.8, strategy, rng.choice(STRATEGIES, n))).astype(object)
            last_strategy = rng.choice(STRATEGIES)          # the position still open
            coid = np.array([f"{a}{s}-{k}" for k in range(2 * n + 1)], dtype=object)
            side = np.tile(np.array(["BUY", "SELL"], dtype=object), n + 1)[:2 * n + 1]
            price = rng.uniform(10, 200, 2 * n + 1).round(2)
            fill_qty = np.append(np.repeat(qty, 2), 3.0)
            own = np.append(np.column_stack([strategy, exit_strategy]).ravel(), last_strategy)
            truth = np.append(np.column_stack([strategy, np.where(
                exit_strategy == "", strategy, exit_strategy)]).ravel(), last_strategy)
            fills.append({"account_id": np.full(2 * n + 1, a, object),
                          "symbol": np.full(2 * n + 1, s, object), "client_order_id": coid,
                          "trade_id": coid, "side": side, "quantity": fill_qty,
                          "price": price, "fee": rng.uniform(0, 2, 2 * n + 1).round(3),
                          "ts_event": times, "ts_init": times, "truth": truth.astype(object)})
            orders.append({"account_id": np.full(2 * n + 1, a, object), "symbol":
                           np.full(2 * n + 1, s, object), "client_order_id": coid,
                           "strategy_id": own.astype(object)})
    equity = []
    for a in ACCOUNTS:
        ts = np.sort(rng.choice(np.arange(SPAN_S), SAMPLES_PER_ACCOUNT, replace=False)) * SEC
        walk = 1e6 * np.exp(np.cumsum(rng.normal(0, 1e-3, SAMPLES_PER_ACCOUNT)))
        equity.append({"account_id": np.full(SAMPLES_PER_ACCOUNT, a, object), "ts_ns": ts,
                       "equity": walk})

    def cat(parts: list[dict]) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    return {"trades": cat(trades), "fills": cat(fills), "orders": cat(orders),
            "positions": cat(positions), "equity": cat(equity),
            "latency": {"hop": rng.choice(np.array(["a", "b", "c"], dtype=object), 30_000),
                        "ts_ns": np.arange(30_000),
                        "ns": rng.lognormal(10, 1, 30_000).astype(np.int64)}}


def write_random_run(path, *, end: bool) -> dict:
    """The large random run "big" written to a new store at `path` (ended, so it gets its
    summary, when `end`); returns its columns, with the truths the tests check against."""
    cols = random_run(np.random.default_rng(20240601))
    with Store.open(path) as store:
        run = store.begin_run("backtest", None, run_id="big")
        store.insert("instruments", {"symbol": np.array(["S4"], dtype=object),
                                     "multiplier": np.array([50.0])})
        store.insert_batches((t, {"run_id": run, **{k: v for k, v in c.items()
                                                    if k != "truth"}})
                             for t, c in cols.items())
        if end:
            store.end_run(run)
    return cols


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "phalanx.duckdb"
    cols = write_random_run(path, end=False)
    store = Store.open(path, read_only=True)
    yield store, cols
    store.close()


def numpy_curve_metrics(ts: np.ndarray, eq: np.ndarray) -> dict[str, object]:
    """The curve metrics by numpy, vectorised (no kernel)."""
    r = eq[1:] / eq[:-1] - 1
    ppy = (len(eq) - 1) / ((ts[-1] - ts[0]) / YEAR_NS)
    peak = np.maximum.accumulate(eq)
    at_peak = eq >= peak
    peak_index = np.maximum.accumulate(np.where(at_peak, np.arange(len(eq)), 0))
    regained = np.flatnonzero(at_peak[1:] & ~at_peak[:-1]) + 1
    spells = ts[regained] - ts[peak_index[regained - 1]]
    if not at_peak[-1]:
        spells = np.append(spells, ts[-1] - ts[peak_index[-1]])
    mdd = float((1 - eq / peak).max())
    annual = (eq[-1] / eq[0]) ** (ppy / (len(eq) - 1)) - 1
    sd = r.std(ddof=1)
    return {"samples": len(eq), "start_equity": eq[0], "end_equity": eq[-1],
            "avg_equity": eq.mean(), "periods_per_year": ppy,
            "total_return": eq[-1] / eq[0] - 1, "annual_return": annual,
            "volatility": sd * np.sqrt(ppy), "sharpe": r.mean() / sd * np.sqrt(ppy),
            "sortino": r.mean() / np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * np.sqrt(ppy),
            "max_drawdown": mdd, "calmar": annual / mdd,
            "max_drawdown_ns": int(spells.max()) if len(spells) else 0}


def numpy_expected(cols, by: str | None) -> dict[str, dict[str, object]]:
    t, f, p, e = cols["trades"], cols["fills"], cols["positions"], cols["equity"]
    tkey = {None: np.full(len(t["gross_pnl"]), "big", object), "account": t["account_id"],
            "symbol": t["symbol"], "strategy": t["truth"]}[by]
    fkey = {None: np.full(len(f["fee"]), "big", object), "account": f["account_id"],
            "symbol": f["symbol"], "strategy": f["truth"]}[by]
    # open positions: the last OPENED row of each pair; its strategy the last fill's
    last = np.r_[np.flatnonzero(p["symbol"][1:] != p["symbol"][:-1]), len(p["ts_ns"]) - 1]
    okey = {None: np.full(len(last), "big", object), "account": p["account_id"][last],
            "symbol": p["symbol"][last],
            "strategy": f["truth"][np.r_[np.flatnonzero(
                f["symbol"][1:] != f["symbol"][:-1]), len(f["fee"]) - 1]]}[by]
    lo = min(e["ts_ns"].min(), f["ts_event"].min())
    hi = max(e["ts_ns"].max(), f["ts_event"].max())
    # the equity grid and the run's curve: every account as of each time
    grid = np.unique(e["ts_ns"])
    total = np.zeros(len(grid))
    for a in ACCOUNTS:
        mine = e["account_id"] == a
        ats, aeq = e["ts_ns"][mine], e["equity"][mine]
        total += aeq[np.maximum(np.searchsorted(ats, grid, side="right") - 1, 0)]
    base = total[0]                    # every account's first sample
    net = t["gross_pnl"] - t["fees"]
    mult = np.array([MULTIPLIER.get(s, 1.0) for s in f["symbol"]])
    expected = {}
    for key in np.unique(np.concatenate([tkey, fkey])):
        mt, mf, mo = tkey == key, fkey == key, okey == key
        nets = net[mt]
        wins, losses = nets[nets > 0], nets[nets < 0]
        # exposure: paint every second of the span covered by a position (a second grid)
        paint = np.zeros((hi - lo) // SEC + 2, dtype=np.int64)
        np.add.at(paint, (t["entry_ts_ns"][mt] - lo) // SEC, 1)
        np.add.at(paint, (t["exit_ts_ns"][mt] - lo) // SEC, -1)
        np.add.at(paint, (p["ts_ns"][last][mo] - lo) // SEC, 1)
        np.add.at(paint, np.full(mo.sum(), (hi - lo) // SEC), -1)
        covered = int((np.cumsum(paint)[:-1] > 0).sum()) * SEC
        if by is None:
            ts_, eq_ = grid, total
        elif by == "account":
            mine = e["account_id"] == key
            ts_, eq_ = e["ts_ns"][mine], e["equity"][mine]
        else:
            order = np.argsort(t["exit_ts_ns"][mt], kind="stable")
            exits, cum = t["exit_ts_ns"][mt][order], np.cumsum(nets[order])
            k = np.searchsorted(exits, grid, side="right")
            ts_, eq_ = grid, base + np.where(k > 0, cum[np.maximum(k - 1, 0)], 0.0)
        curve = numpy_curve_metrics(ts_, eq_)
        notional = float((f["quantity"][mf] * f["price"][mf] * mult[mf]).sum())
        expected[key] = {
            "trades": int(mt.sum()), "wins": len(wins), "losses": len(losses),
            "win_rate": len(wins) / mt.sum(), "gross_pnl": t["gross_pnl"][mt].sum(),
            "fees": t["fees"][mt].sum(), "net_pnl": nets.sum(),
            "profit_factor": wins.sum() / -losses.sum(), "expectancy": nets.mean(),
            "avg_win": wins.mean(), "avg_loss": losses.mean(), "fills": int(mf.sum()),
            "fill_fees": f["fee"][mf].sum(), "traded_notional": notional,
            "turnover": notional / curve["avg_equity"], "exposure": covered / (hi - lo),
            **curve}
    return expected


@pytest.mark.parametrize("by", [None, "account", "strategy", "symbol"])
def test_every_metric_matches_numpy_on_a_large_random_run(big, by):
    store, cols = big
    expected = numpy_expected(cols, by)
    got = analyze(store, "big", by=by)
    assert [g.key for g in got] == sorted(expected)
    for g in got:
        check(g, rel=1e-8, **expected[g.key])


def test_all_groupings_measured_together_match_numpy_on_a_large_random_run(big):
    # analyze_all reads the journal once for every grouping (one aggregate statement,
    # the round trips fetched once): the figures must be each grouping's own.
    store, cols = big
    measured = analyze_all(store, "big", summary=False)
    assert list(measured) == ["run", "account", "strategy", "symbol"]
    for grouping, got in measured.items():
        expected = numpy_expected(cols, None if grouping == "run" else grouping)
        assert [g.key for g in got] == sorted(expected)
        for g in got:
            check(g, rel=1e-8, **expected[g.key])


def test_all_groupings_measured_together_equal_one_at_a_time_with_attributed_strategies(
        hand):
    # The hand-checked run has no journaled strategies: measured together, the strategy
    # grouping reads the attribution while the others read the journal as they are.
    measured = analyze_all(hand, "hand", summary=False, periods_per_year=252.0)
    for grouping, got in measured.items():
        alone = analyze(hand, "hand", None if grouping == "run" else grouping,
                        summary=False, periods_per_year=252.0)
        assert [g.key for g in got] == [g.key for g in alone]
        for g, a in zip(got, alone, strict=True):
            check(g, rel=1e-12, **dataclasses.asdict(a))
    assert [g.key for g in measured["strategy"]] == ["s1", "s2"]


def test_latency_matches_numpy_percentiles_on_a_large_random_run(big):
    store, cols = big
    lat = cols["latency"]
    for stats in latency(store, "big"):
        ns = lat["ns"][lat["hop"] == stats.hop]
        assert (stats.count, stats.max) == (len(ns), ns.max())
        assert [stats.mean, stats.p50, stats.p90, stats.p99] == pytest.approx(
            [ns.mean(), *np.percentile(ns, [50, 90, 99])], rel=1e-12)


# --- the command line and the docs -------------------------------------------------------

def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_a_table_of_metrics_and_latency(hand, capsys):
    code, out, _ = run_cli(capsys, "analytics", "hand", "--db", str(hand.path), "--by",
                           "strategy")
    assert code == 0
    assert re.search(r"^s1 +2 +100\.00 +inf +14\.25 +14\.25 +nan +30\.00", out,
                     flags=re.M), out
    assert re.search(r"^s2 +5 .* 5\.50 +3d 00:00:00 +18\.75", out, flags=re.M), out
    assert "signal->fill" in out and "976" in out


def test_cli_json_is_one_object_with_groups_and_latency(hand, capsys):
    code, out, _ = run_cli(capsys, "analytics", "hand", "--db", str(hand.path), "--by",
                           "account", "--json")
    doc = orjson.loads(out)
    assert code == 0 and (doc["run_id"], doc["by"]) == ("hand", "account")
    assert [g["key"] for g in doc["groups"]] == ["A", "B"]
    b = doc["groups"][1]
    assert (b["profit_factor"], b["sharpe"], b["max_drawdown_ns"]) == ("inf", None, 0)
    assert doc["latency"][1] == {"hop": "signal->fill", "count": 5, "mean": 400.0,
                                 "p50": 300.0, "p90": pytest.approx(760.0), "p99": 976.0,
                                 "max": 1000}


def test_cli_unknown_run_is_a_one_line_error_with_exit_2(hand, capsys):
    code, out, err = run_cli(capsys, "analytics", "nope", "--db", str(hand.path))
    assert code == 2 and out == ""
    assert err == "phalanx analytics: error: unknown run 'nope'; known: hand\n"


def test_the_docs_example_runs(capsys):
    text = (ROOT / "docs" / "analytics.md").read_text()
    [block] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    exec(compile(block, "docs/analytics.md example", "exec"), {})
    assert "win_rate" in capsys.readouterr().out
