"""strategies.kernels: every signal kernel emits exactly what its strategy class emits.

The classes are driven bar by bar through StrategyHost (tests/unit/strategies/support.py)
on every file in ../shared/data (SPY ticks as one-minute bars) and on random bars with many
exact ties; the exact-integer helpers are held to Python's own integers.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import uint64

from data.importers import read_lean_trades, read_ohlcv, read_yahoo
from engine.enums import SignalSide
from engine.messages import Bar
from strategies import fast
from strategies import kernels as k
from tests.refdata import ORCL, ORCL_2015, refdata_path
from tests.unit.strategies.support import run_named

CODE = {SignalSide.LONG: 1, SignalSide.SHORT: -1, SignalSide.FLAT: 2}
COLUMNS = ("open", "high", "low", "close", "volume", "ts_ns")

GRIDS: dict[str, list[dict[str, object]]] = {
    "sma_cross": [{"fast": f, "slow": s, "allow_short": (f + s) % 2 == 0}
                  for f, s in itertools.product((1, 2, 5, 10, 20), (3, 30, 50)) if f < s],
    "sma_trend": [{"period": p} for p in (1, 2, 10, 50, 200)],
    "mean_reversion": [{"window": w, "entry_z": e, "exit_z": x, "allow_short": w % 2 == 0}
                       for w, (e, x) in itertools.product((2, 5, 20, 61),
                                                          ((1.0, 0.0), (2.0, 0.5)))],
    "breakout": [{"window": w, "exit_window": x, "allow_short": w % 2 == 1}
                 for w, x in itertools.product((1, 5, 20, 55), (None, 3))],
}
DATA_FILES = ("orcl", "orcl-2015", "2006-day", "btc-1m", "spy-1m")
LONG_FILES = {"btc-1m": 3}     # files where the Python classes are slow: sets per strategy


def spy_minute_bars(path) -> dict[str, np.ndarray]:
    """One-minute OHLCV bars of the SPY prints (suspicious ones dropped), oldest first."""
    cols = read_lean_trades(path, "SPY").columns
    keep = ~cols["suspicious"]
    ts, price, size = cols["ts_ns"][keep], cols["price"][keep], cols["size"][keep]
    order = np.lexsort((cols["seq"][keep], ts))
    ts, price, size = ts[order], price[order], size[order]
    minute = ts // 60_000_000_000
    starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    return {"open": price[starts], "high": np.maximum.reduceat(price, starts),
            "low": np.minimum.reduceat(price, starts), "close": price[ends],
            "volume": np.add.reduceat(size, starts), "ts_ns": minute[starts] * 60_000_000_000}


@functools.cache
def load(name: str) -> dict[str, np.ndarray]:
    """Arrays of one reference file (see ../shared/data/README.md)."""
    if name == "orcl":
        return read_yahoo(refdata_path(ORCL), "ORCL").columns
    if name == "orcl-2015":
        return read_yahoo(refdata_path(ORCL_2015), "ORCL").columns
    if name == "2006-day":
        return read_yahoo(refdata_path("2006-day-001.txt"), "IDX").columns
    if name == "btc-1m":
        return read_ohlcv(refdata_path("btc-perp-20211231-20220201_1m.csv"), "BTC").columns
    return spy_minute_bars(refdata_path("20131008_trade.zip"))


@functools.cache
def load_bars(name: str) -> list[Bar]:
    return to_bars(load(name))


def to_bars(arrays: dict[str, np.ndarray], symbol: str = "X") -> list[Bar]:
    return [Bar(symbol, o, h, lo, c, v, int(ts), int(ts))
            for o, h, lo, c, v, ts in zip(*(arrays[c].tolist() for c in COLUMNS),
                                          strict=True)]


def class_codes(name: str, bars: list[Bar], params: dict[str, object]) -> np.ndarray:
    """The strategy class's signals as int8 codes per bar."""
    out = np.zeros(len(bars), np.int8)
    for i, side in run_named(name, bars, **params):
        assert out[i] == 0, "one signal per bar at most"
        out[i] = CODE[side]
    return out


def assert_same_signals(name: str, arrays: dict[str, np.ndarray], bars: list[Bar],
                        params: dict[str, object]) -> None:
    got, want = fast.signals(name, arrays, params), class_codes(name, bars, params)
    bad = np.flatnonzero(got != want)
    assert not len(bad), (f"{name} {params}: {len(bad)} bars differ, first at {bad[0]}: "
                          f"kernel {got[bad[0]]} class {want[bad[0]]}")


# --- every reference file -------------------------------------------------------------------
@pytest.mark.refdata
@pytest.mark.parametrize("strategy", sorted(GRIDS))
@pytest.mark.parametrize("data", DATA_FILES)
def test_kernel_signals_equal_the_strategy_class_on_reference_data(data, strategy):
    arrays, bars = load(data), load_bars(data)
    grid = GRIDS[strategy]
    if data in LONG_FILES:             # an evenly spread subset where the classes are slow
        grid = grid[::max(1, len(grid) // LONG_FILES[data])]
    for params in grid:
        assert_same_signals(strategy, arrays, bars, params)


@pytest.mark.refdata
def test_spy_minute_bars_cover_the_trading_day():
    arrays = load("spy-1m")
    assert 800 <= len(arrays["close"]) <= 960
    assert (np.diff(arrays["ts_ns"]) > 0).all()
    assert ((arrays["low"] <= arrays["close"]) & (arrays["close"] <= arrays["high"])).all()


# --- random bars, ties everywhere -----------------------------------------------------------
@st.composite
def random_bars(draw) -> dict[str, np.ndarray]:
    """Short series on a coarse price grid (so sums and channels tie often), a few flat runs."""
    n = draw(st.integers(1, 80))
    ticks = draw(st.lists(st.integers(1, 8), min_size=n, max_size=n))
    scale = draw(st.sampled_from([1.0, 0.01, 0.1, 1234.5]))
    close = np.array(ticks, np.float64) * scale
    spread = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))) * scale
    return {"open": close.copy(), "high": close + spread, "low": close - spread / 2,
            "close": close, "volume": np.ones(n), "ts_ns": np.arange(1, n + 1) * 60_000_000_000}


PARAMS = {
    "sma_cross": st.tuples(st.integers(1, 12), st.integers(2, 20), st.booleans()).filter(
        lambda t: t[0] < t[1]).map(lambda t: {"fast": t[0], "slow": t[1], "allow_short": t[2]}),
    "sma_trend": st.integers(1, 20).map(lambda p: {"period": p}),
    "mean_reversion": st.tuples(st.integers(2, 15), st.sampled_from([0.5, 1.0, 1.5, 2.0]),
                                st.sampled_from([0.0, 0.25, 0.5]), st.booleans()).filter(
        lambda t: t[1] > t[2]).map(
        lambda t: {"window": t[0], "entry_z": t[1], "exit_z": t[2], "allow_short": t[3]}),
    "breakout": st.tuples(st.integers(1, 15), st.one_of(st.none(), st.integers(1, 10)),
                          st.booleans()).map(
        lambda t: {"window": t[0], "exit_window": t[1], "allow_short": t[2]}),
}


@pytest.mark.parametrize("strategy", sorted(PARAMS))
def test_kernel_signals_equal_the_strategy_class_on_random_bars(strategy):
    @settings(max_examples=30, deadline=None)
    @given(arrays=random_bars(), params=PARAMS[strategy])
    def check(arrays, params):
        assert_same_signals(strategy, arrays, to_bars(arrays), params)
    check()


def test_mean_reversion_z_is_exact_at_btc_scale_where_int64_squares_overflow():
    rng = np.random.default_rng(7)
    close = np.round(46_000 + np.cumsum(rng.normal(0, 30, 400)), 1)
    arrays = {"open": close, "high": close, "low": close, "close": close}
    params = {"window": 50, "entry_z": 1.0, "exit_z": 0.2, "allow_short": True}
    bars = to_bars({**arrays, "volume": np.ones(400), "ts_ns": np.arange(400)})
    assert_same_signals("mean_reversion", arrays, bars, params)


# --- exact integer helpers -------------------------------------------------------------------
U64 = st.integers(0, 2 ** 64 - 1)


@settings(max_examples=300, deadline=None)
@given(a=U64, b=U64)
def test_mul64_is_the_exact_128_bit_product(a, b):
    hi, lo = k._mul64(uint64(a), uint64(b))
    assert (int(hi) << 64) | int(lo) == a * b


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.integers(0, 2 ** 128 - 1),
                       st.builds(lambda m, s, r: (((m | 1 << 52) << s) | (1 << s - 1) | r)
                                 % 2 ** 128, st.integers(0, 2 ** 52), st.integers(12, 74),
                                 st.integers(0, 1))))
def test_u128_to_float_rounds_as_python_float_of_int(value):
    assert k.u128_to_float_nb(uint64(value >> 64), uint64(value % 2 ** 64)) == float(value)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-10 ** 12, 10 ** 12), min_size=1, max_size=40),
       window=st.integers(1, 10))
def test_rolling_sum_is_the_exact_window_sum(values, window):
    units = np.array(values, np.int64)
    got = k.rolling_sum_nb(units, window, np.empty(len(values), np.int64))
    for i in range(window - 1, len(values)):
        assert got[i] == sum(values[i - window + 1:i + 1])


@settings(max_examples=100, deadline=None)
@given(high=st.lists(st.floats(0.5, 9.5), min_size=1, max_size=40), window=st.integers(1, 8))
def test_prior_extremes_are_the_channel_of_the_bars_before(high, window):
    hi_arr = np.array(high)
    lo_arr = hi_arr - 0.25
    got_hi, got_lo = k.prior_extremes_nb(hi_arr, lo_arr, window, np.empty(len(high)),
                                         np.empty(len(high)))
    for i in range(len(high)):
        if i < window:
            assert np.isnan(got_hi[i]) and np.isnan(got_lo[i])
        else:
            assert got_hi[i] == hi_arr[i - window:i].max()
            assert got_lo[i] == lo_arr[i - window:i].min()
