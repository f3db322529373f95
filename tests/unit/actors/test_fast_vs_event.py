"""The fast path (strategies.fast) and the event-driven backtest (actors.backtest) give
the same fills and figures, on every file in ../shared/data, for every strategy the fast
path supports, over fill rules, lot sizes, fees, sizing modes and shorting."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from actors.backtest import BacktestConfig, run_backtest
from actors.backtest_data import BarSeries
from engine.enums import OrderSide
from engine.sizing import SizingConfig, SizingMode
from strategies import fast
from tests.unit.strategies.test_kernels import DATA_FILES, load

PARAMS = {
    "sma_cross": [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 30, "allow_short": True}],
    "sma_trend": [{"period": 20}, {"period": 50}],
    "mean_reversion": [{"window": 20, "entry_z": 1.5, "exit_z": 0.25},
                       {"window": 10, "entry_z": 2.0, "exit_z": 0.5, "allow_short": True}],
    "breakout": [{"window": 20}, {"window": 10, "exit_window": 5, "allow_short": True}],
}
# (fill, sizing, lot size, fee in bps)
SETTINGS = [("next_open", "all-in", 1e-8, 0.0), ("close", "all-in", 1.0, 5.0),
            ("next_open", "fixed", 1.0, 2.0)]
SLOW_FILES = {"btc-1m"}     # 45,031 bars: one set per strategy and setting pair


def series(name: str) -> BarSeries:
    cols = load(name)
    ts = cols["ts_ns"].astype(np.int64)
    step = int(np.min(np.diff(ts)))
    return BarSeries(name.upper(), step, ts,
                     *(np.asarray(cols[k], dtype=float)
                       for k in ("open", "high", "low", "close", "volume")))


def cases(name: str):
    for strategy, sets in PARAMS.items():
        chosen = list(itertools.product(sets, SETTINGS))
        if name in SLOW_FILES:
            chosen = chosen[::3]
        yield from ((strategy, params, setting) for params, setting in chosen)


def fixed_quantity(bars: BarSeries) -> float:
    return max(1.0, math.floor(100_000.0 / (3 * float(bars.close.max()))))


@pytest.mark.parametrize("name", DATA_FILES)
def test_fast_path_equals_the_event_path(name):
    bars = series(name)
    checked = 0
    for strategy, params, (fill, sizing, lot, fee) in cases(name):
        qty = fixed_quantity(bars) if sizing == "fixed" else 0.0
        settings = fast.FastSettings(fill=fill, sizing=sizing, quantity=qty, qty_step=lot,
                                     fee_bps=fee)
        got = fast.run_grid(strategy, bars.columns(), [params], settings, record_fills=True)
        mode = SizingMode.FIXED_QUANTITY if sizing == "fixed" else SizingMode.ALL_CASH
        event = run_backtest(bars, BacktestConfig(
            strategy=strategy, params=params, fill=fill, lot_size=lot, fee_bps=fee,
            sizing=SizingConfig(mode, quantity=qty),
            allow_short=bool(params.get("allow_short"))))
        where = f"{name} {strategy} {params} {fill} {sizing} lot={lot} fee={fee}"
        assert event.failure is None, where
        assert_same_fills(bars, fill, got.fill_log[0], event.fills, where)
        assert got.final_value[0] == pytest.approx(event.final_value, rel=1e-12, abs=1e-9), where
        assert got.cash[0] == pytest.approx(event.cash, rel=1e-12, abs=1e-9), where
        assert got.position[0] == event.position, where
        assert got.closed_trades[0] == len(event.trades), where
        assert got.open_trades[0] == event.open_trades, where
        assert got.fees[0] == pytest.approx(event.fees, rel=1e-12, abs=1e-12), where
        checked += 1
    assert checked >= 8


def assert_same_fills(bars: BarSeries, fill: str, log: np.ndarray, fills: list,
                      where: str) -> None:
    stamps = bars.ts_ns + bars.interval_ns if fill == "close" else bars.ts_ns
    index = np.searchsorted(stamps, [f.ts_event for f in fills])
    assert len(log) == len(fills), f"{where}: {len(log)} fast fills, {len(fills)} event"
    for row, f, i in zip(log, fills, index, strict=True):
        side = 1 if f.side is OrderSide.BUY else -1
        assert stamps[i] == f.ts_event, where
        assert (int(row["bar_index"]), int(row["side"]), float(row["price"]),
                float(row["qty"])) == (int(i), side, f.last_px, f.last_qty), where
        assert float(row["fee"]) == pytest.approx(f.fee, rel=1e-12, abs=1e-12), where
