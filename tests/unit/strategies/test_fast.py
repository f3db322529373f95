"""strategies.fast: the grid backtest kernel against a plain-Python restatement of the
event path's portfolio rules (engine sizing, Portfolio and Position), the backtrader parity
anchor on ORCL, and the API's validation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.enums import LiquiditySide, OrderSide
from engine.errors import ConfigError, InvalidInput, UnknownName
from engine.instruments import FeeSchedule, Instrument
from engine.messages import OrderFilled, PositionClosed
from engine.positions import Portfolio
from engine.sizing import SizingConfig, SizingMode, size_order
from strategies import fast
from strategies.fast import FastSettings, run_grid
from tests.unit.strategies.test_kernels import class_codes, load, load_bars

SYMBOL = "X"


# --- the reference ---------------------------------------------------------------------------
def reference_backtest(codes, open_, close, s: FastSettings, allow_short: bool) -> dict:
    """The portfolio rules of docs/fast-path.md in plain Python on the engine's own classes:
    `size_order` sizes, `Portfolio.apply_fill` moves cash and positions, PositionClosed
    events are the round trips; the funds check is SimAccount's (buying power when flat)."""
    instrument = Instrument(SYMBOL, qty_step=s.qty_step, fees=FeeSchedule(taker_bps=s.fee_bps))
    sizing = (SizingConfig(SizingMode.ALL_CASH) if s.sizing == "all-in"
              else SizingConfig(SizingMode.FIXED_QUANTITY, quantity=s.quantity))
    pf = Portfolio("ref", s.cash)
    fills, trips = [], []

    def fill(side: OrderSide, qty: float, px: float, bar: int) -> None:
        fee = instrument.fees.fee(qty, px, 1.0, LiquiditySide.TAKER, True)
        event = OrderFilled("ref", "c", "v", "t", SYMBOL, side, qty, px, fee, bar, bar)
        trips.extend(e for e in pf.apply_fill(event) if isinstance(e, PositionClosed))
        fills.append((bar, side.sign, px, qty, fee))

    def act(code: int, px: float, bar: int) -> None:
        if code == 0:
            return
        target = {1: 1, 2: 0, -1: -1 if allow_short else 0}[code]
        held = pf.quantity(SYMBOL)
        current = (held > 0) - (held < 0)
        if target == current:
            return
        if current:
            fill(OrderSide.SELL if current > 0 else OrderSide.BUY, abs(held), px, bar)
        if target:
            qty, _ = size_order(sizing, instrument, px, pf.equity(), pf.cash)
            need = instrument.notional(qty, px) + instrument.fees.fee(
                qty, px, 1.0, LiquiditySide.TAKER, True)
            if qty > 0 and not need > pf.equity() - pf.gross_exposure() + 1e-6:
                fill(OrderSide.BUY if target > 0 else OrderSide.SELL, qty, px, bar)

    peak, max_dd, exposed = s.cash, 0.0, 0
    for t in range(len(codes)):
        if s.fill == "close":
            act(int(codes[t]), float(close[t]), t)
        elif t > 0:
            act(int(codes[t - 1]), float(open_[t]), t)
        pf.mark(SYMBOL, float(close[t]))
        equity = pf.equity()
        exposed += pf.quantity(SYMBOL) != 0.0
        peak = max(peak, equity)
        max_dd = max(max_dd, 1.0 - equity / peak)
    nets = [c.realized_pnl - c.fees for c in trips]
    return {
        "final_value": pf.equity(), "cash": pf.cash, "position": pf.quantity(SYMBOL),
        "fills": len(fills), "closed_trades": len(trips),
        "open_trades": int(pf.quantity(SYMBOL) != 0.0),
        "wins": sum(n > 0 for n in nets), "losses": sum(n < 0 for n in nets),
        "gross_profit": sum(n for n in nets if n > 0), "gross_loss": sum(n for n in nets if n < 0),
        "fees": pf.fees(), "max_drawdown": max_dd,
        "exposure": exposed / len(codes) if len(codes) else 0.0, "fill_log": fills,
    }


def kernel_backtest(codes, open_, close, s: FastSettings, allow_short: bool) -> dict:
    row = np.zeros(fast.N_STATS)
    buf = np.zeros((2 * len(codes) + 2, 5))
    fast.simulate_nb(np.asarray(codes, np.int8), np.asarray(open_, np.float64),
                     np.asarray(close, np.float64), allow_short, *fast._kernel_scalars(s),
                     row, buf)
    out = {name: row[col] for col, name in enumerate(fast.FIGURES)}
    out["fill_log"] = [(int(b), int(sd), p, q, f) for b, sd, p, q, f in buf[:int(row[fast.FILLS])]]
    return out


def assert_same(got: dict, want: dict) -> None:
    """Bit for bit: the kernel does the reference's float operations in the same order."""
    for name, value in want.items():
        assert got[name] == value, (name, got[name], value)


# --- random signals against the reference ----------------------------------------------------
@st.composite
def scenarios(draw):
    n = draw(st.integers(0, 60))
    codes = draw(st.lists(st.sampled_from([0, 0, 0, 1, -1, 2]), min_size=n, max_size=n))
    prices = draw(st.lists(st.floats(0.5, 300.0), min_size=2 * n, max_size=2 * n))
    sizing = draw(st.sampled_from(["all-in", "fixed"]))
    s = FastSettings(
        cash=draw(st.sampled_from([100_000.0, 1_000.0, 37.5])),
        fill=draw(st.sampled_from(["next_open", "close"])), sizing=sizing,
        quantity=draw(st.sampled_from([0.5, 3.0, 250.0])) if sizing == "fixed" else 0.0,
        qty_step=draw(st.sampled_from([1e-8, 1.0, 0.01, 0.5])),
        fee_bps=draw(st.sampled_from([0.0, 2.5, 10.0, 100.0])))
    return codes, prices[:n], prices[n:], s, draw(st.booleans())


@settings(max_examples=120, deadline=None)
@given(scenario=scenarios())
def test_kernel_equals_the_plain_python_portfolio_rules_on_random_signals(scenario):
    codes, open_, close, s, allow_short = scenario
    assert_same(kernel_backtest(codes, open_, close, s, allow_short),
                reference_backtest(codes, open_, close, s, allow_short))


def test_a_signal_on_the_last_bar_never_fills_with_next_open_but_does_at_close():
    codes, px = [0, 0, 1], [10.0, 11.0, 12.0]
    assert kernel_backtest(codes, px, px, FastSettings(), False)["fills"] == 0
    at_close = kernel_backtest(codes, px, px, FastSettings(fill="close"), False)
    assert at_close["fill_log"][0][:3] == (2, 1, 12.0)


def test_short_while_long_closes_first_then_opens_the_short():
    codes, px = [1, -1, 0], [10.0, 20.0, 30.0]
    got = kernel_backtest(codes, px, px, FastSettings(fill="close", qty_step=1.0), True)
    assert [f[:4] for f in got["fill_log"]] == [(0, 1, 10.0, 10_000.0), (1, -1, 20.0, 10_000.0),
                                                (1, -1, 20.0, 10_000.0)]
    assert got["wins"] == 1 and got["open_trades"] == 1


def test_short_signal_without_allow_short_only_closes_the_long():
    codes, px = [1, -1, 0], [10.0, 20.0, 30.0]
    got = kernel_backtest(codes, px, px, FastSettings(fill="close"), False)
    assert got["fills"] == 2 and got["position"] == 0.0


def test_a_fixed_buy_beyond_cash_is_not_filled():
    codes, px = [1, 0], [10.0, 10.0]
    s = FastSettings(cash=100.0, fill="close", sizing="fixed", quantity=10.0, fee_bps=10.0)
    assert kernel_backtest(codes, px, px, s, False)["fills"] == 0      # 100 + 0.1 fee > 100
    s = FastSettings(cash=100.1, fill="close", sizing="fixed", quantity=10.0, fee_bps=10.0)
    assert kernel_backtest(codes, px, px, s, False)["fills"] == 1


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.floats(0.0, 1e7), st.integers(0, 10 ** 6).map(lambda i: i * 0.1)),
       step=st.sampled_from([1e-8, 1e-3, 0.01, 0.1, 0.5, 1.0, 0.25, 5.0]))
def test_floor_qty_kernel_equals_instrument_floor_qty(raw, step):
    scalars = fast._kernel_scalars(FastSettings(qty_step=step))
    want = Instrument(SYMBOL, qty_step=step).floor_qty(raw)
    assert fast.floor_qty_nb(raw, *scalars[4:7]) == want


# --- the parity anchor (backtrader, ../shared/data/README.md) --------------------------------
@pytest.mark.refdata
def test_orcl_sma_cross_10_30_reproduces_the_backtrader_result():
    bars = load("orcl")
    frac = run_grid("sma_cross", bars, [{"fast": "10", "slow": 30}], record_fills=True)
    whole = run_grid("sma_cross", bars, [{"fast": 10, "slow": 30}], FastSettings(qty_step=1.0))
    assert abs(frac.final_value[0] - 508_192.3587851795) <= 1e-6
    assert abs(whole.final_value[0] - 508_190.3658970004) <= 1e-6
    for result in (frac, whole):
        assert (result.fills[0], result.closed_trades[0], result.open_trades[0]) == (195, 97, 1)
    first = frac.fill_log[0][0]
    day = dt.datetime.fromtimestamp(bars["ts_ns"][first["bar_index"]] / 1e9, dt.UTC).date()
    assert (day.isoformat(), int(first["side"]), float(first["price"])) == (
        "1995-05-12", 1, 2.37037)


@pytest.mark.refdata
@pytest.mark.parametrize("strategy, params", [
    ("sma_cross", {"fast": 5, "slow": 50, "allow_short": True}),
    ("sma_trend", {"period": 40}),
    ("mean_reversion", {"window": 20, "entry_z": 1.5, "exit_z": 0.25, "allow_short": True}),
    ("breakout", {"window": 20, "exit_window": 10, "allow_short": True}),
])
@pytest.mark.parametrize("s", [FastSettings(), FastSettings(fill="close", qty_step=1.0,
                                                            fee_bps=5.0)])
def test_run_grid_equals_the_reference_driven_by_the_strategy_class(strategy, params, s):
    bars = load("orcl")
    codes = class_codes(strategy, load_bars("orcl"), params)
    got = run_grid(strategy, bars, [params], s, record_fills=True)
    want = reference_backtest(codes, bars["open"], bars["close"], s,
                              params.get("allow_short", False))
    log = [(int(r["bar_index"]), int(r["side"]), r["price"], r["qty"], r["fee"])
           for r in got.fill_log[0]]
    assert_same({**{n: getattr(got, n)[0] for n in fast.FIGURES}, "fill_log": log}, want)


# --- the grid API ----------------------------------------------------------------------------
@pytest.mark.refdata
def test_a_grid_equals_its_sets_run_one_by_one_with_and_without_fill_logs(monkeypatch):
    bars = load("2006-day")
    sets = [{"fast": f, "slow": s} for f in (1, 3, 7) for s in (10, 20)]
    monkeypatch.setattr(fast, "_CHUNK", 4)        # fill logs are made in chunks of sets
    grid = run_grid("sma_cross", bars, sets, FastSettings(fee_bps=1.0))
    logged = run_grid("sma_cross", bars, sets, FastSettings(fee_bps=1.0), record_fills=True)
    assert logged.to_rows() == grid.to_rows()
    for i, params in enumerate(sets):
        one = run_grid("sma_cross", bars, [params], FastSettings(fee_bps=1.0), record_fills=True)
        assert one.to_rows()[0] == grid.to_rows()[i]
        assert (one.fill_log[0] == logged.fill_log[i]).all()
        assert len(logged.fill_log[i]) == grid.fills[i]


def test_to_rows_gives_parameters_and_figures_as_json_ready_dicts():
    close = np.array([10.0, 9.0, 8.0, 9.0, 11.0, 12.0, 10.0])
    bars = {"open": close, "high": close, "low": close, "close": close}
    result = run_grid("sma_trend", bars, [{"period": "2"}])
    row = result.to_rows()[0]
    assert row["period"] == 2 and isinstance(row["fills"], int)
    assert set(fast.FIGURES) <= set(row)
    assert orjson.loads(orjson.dumps(result.to_rows())) == result.to_rows()


def test_an_empty_grid_and_empty_bars_give_empty_or_flat_results():
    empty = {c: np.zeros(0) for c in ("open", "high", "low", "close")}
    assert len(run_grid("sma_cross", empty, [])) == 0
    assert run_grid("breakout", empty, [{}]).final_value.tolist() == [100_000.0]


def test_unknown_parameter_is_the_same_config_error_as_the_event_path():
    with pytest.raises(ConfigError, match="strategy sma_cross: speed: unknown key"):
        run_grid("sma_cross", load_small(), [{"speed": 3}])
    with pytest.raises(ConfigError, match="fast: must be < slow"):
        fast.signals("sma_cross", load_small(), {"fast": 30, "slow": 10})


def test_strategies_without_a_fast_path_are_refused():
    assert fast.supports("breakout") and not fast.supports("combiner")
    with pytest.raises(InvalidInput, match="no fast path"):
        run_grid("combiner", load_small(), [{}])
    with pytest.raises(InvalidInput):
        run_grid("nope", load_small(), [{}])
    assert not isinstance(InvalidInput("a", 1, "b"), UnknownName)


@pytest.mark.parametrize("kwargs, key", [
    ({"cash": 0.0}, "cash"), ({"cash": float("nan")}, "cash"), ({"fill": "open"}, "fill"),
    ({"sizing": "percent"}, "sizing"), ({"sizing": "fixed"}, "quantity"),
    ({"qty_step": 0.0}, "qty_step"), ({"qty_step": 1e-20}, "qty_step"),
    ({"fee_bps": -1.0}, "fee_bps"), ({"quantity": True}, "quantity"),
])
def test_bad_settings_are_config_errors_naming_the_key(kwargs, key):
    with pytest.raises(ConfigError) as info:
        FastSettings(**kwargs)
    assert info.value.key == key


def test_bars_with_nan_or_ragged_columns_are_refused():
    bars = load_small()
    with pytest.raises(InvalidInput, match="bars.close"):
        run_grid("sma_cross", {**bars, "close": np.array([1.0, np.nan, 2.0])}, [{}])
    with pytest.raises(InvalidInput, match="same length"):
        run_grid("sma_cross", {**bars, "open": np.ones(2)}, [{}])


def load_small() -> dict[str, np.ndarray]:
    close = np.array([1.0, 2.0, 3.0])
    return {"open": close, "high": close, "low": close, "close": close}
