import math

import pytest

from engine.enums import DenyReason
from engine.errors import ConfigError
from engine.instruments import FeeSchedule, Instrument
from engine.sizing import SizingConfig, SizingMode, size_order

STOCK = Instrument("ORCL", price_tick=0.01, qty_step=1.0, min_qty=1.0)
COIN = Instrument("BTC", price_tick=0.1, qty_step=0.001, min_qty=0.001, min_notional=10.0)


def test_fixed_quantity_is_rounded_down_onto_the_step():
    cfg = SizingConfig(SizingMode.FIXED_QUANTITY, quantity=10.7)
    assert size_order(cfg, STOCK, 50.0, 1e6, 1e6) == (10.0, None)


def test_fixed_notional_divides_by_price_and_multiplier():
    fut = Instrument("ES", qty_step=1.0, multiplier=50.0)
    cfg = SizingConfig(SizingMode.FIXED_NOTIONAL, notional=1_000_000.0)
    assert size_order(cfg, fut, 4000.0, 0, 0) == (5.0, None)


def test_percent_of_equity_uses_equity_not_cash():
    cfg = SizingConfig(SizingMode.PERCENT_EQUITY, percent=25.0)
    qty, reason = size_order(cfg, COIN, 40_000.0, equity=100_000.0, cash=1.0)
    assert reason is None and qty == pytest.approx(0.625)


def test_all_cash_leaves_room_for_taker_fees_and_fixed_costs():
    inst = Instrument("X", qty_step=1e-8, fees=FeeSchedule(taker_bps=10.0, per_order=1.0))
    cfg = SizingConfig(SizingMode.ALL_CASH)
    qty, reason = size_order(cfg, inst, 100.0, 0.0, 10_001.0)
    assert reason is None
    cost = qty * 100.0 * (1 + 10e-4) + 1.0
    assert cost <= 10_001.0 and cost > 10_001.0 - 1e-4


def test_size_below_minimum_quantity_is_zero_with_reason():
    cfg = SizingConfig(SizingMode.FIXED_NOTIONAL, notional=20.0)
    assert size_order(cfg, STOCK, 50.0, 0, 0) == (0.0, DenyReason.BELOW_MIN_QUANTITY)


def test_size_below_minimum_notional_is_zero_with_reason():
    cfg = SizingConfig(SizingMode.FIXED_QUANTITY, quantity=0.0002)
    small = Instrument("BTC", qty_step=0.0001, min_notional=10.0)
    assert size_order(cfg, small, 40_000.0, 0, 0) == (0.0, DenyReason.BELOW_MIN_NOTIONAL)


@pytest.mark.parametrize("price", [math.nan, math.inf, 0.0, -5.0])
def test_a_bad_price_sizes_to_zero_with_invalid_price(price):
    cfg = SizingConfig(SizingMode.FIXED_QUANTITY, quantity=1.0)
    assert size_order(cfg, STOCK, price, 1e6, 1e6) == (0.0, DenyReason.INVALID_PRICE)


def test_negative_equity_sizes_to_zero():
    cfg = SizingConfig(SizingMode.PERCENT_EQUITY, percent=50.0)
    assert size_order(cfg, STOCK, 10.0, -1000.0, 0)[0] == 0.0


@pytest.mark.parametrize("kwargs, key", [
    ({"mode": "kelly"}, "sizing.mode"),
    ({"mode": SizingMode.FIXED_QUANTITY, "quantity": -1.0}, "sizing.quantity"),
    ({"mode": SizingMode.FIXED_NOTIONAL, "notional": math.nan}, "sizing.notional"),
    ({"mode": SizingMode.PERCENT_EQUITY, "percent": 150.0}, "sizing.percent"),
    ({"mode": SizingMode.FIXED_QUANTITY, "quantity": "10"}, "sizing.quantity"),
])
def test_bad_sizing_config_names_the_key(kwargs, key):
    with pytest.raises(ConfigError) as err:
        SizingConfig(**kwargs)
    assert err.value.key == key
    assert key in str(err.value)


def test_sizing_mode_accepts_its_cli_spelling():
    assert SizingConfig(mode="all-in").mode is SizingMode.ALL_CASH
