"""Instruments: price and quantity grids, validation, fees."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.enums import LiquiditySide
from engine.errors import InvalidInput
from engine.instruments import FeeSchedule, Instrument, is_finite_positive, require_finite

MAKER, TAKER = LiquiditySide.MAKER, LiquiditySide.TAKER
STEPS = [1e-8, 1e-5, 0.001, 0.01, 0.1, 0.25, 0.5, 1.0, 5.0, 50.0]


# --- round_price -------------------------------------------------------------------------

@pytest.mark.parametrize(("tick", "price", "expected"), [
    (0.01, 100.004, 100.0), (0.01, 100.006, 100.01), (0.01, 0.1 + 0.2, 0.3),
    (0.25, 10.12, 10.0), (0.25, 10.13, 10.25), (0.5, 99.74, 99.5),
    (5.0, 4502.4, 4500.0), (5.0, 4503.0, 4505.0), (1e-8, 0.123456789, 0.12345679),
    (0.01, -1.234, -1.23),
])
def test_round_price_goes_to_the_nearest_tick_with_an_exact_decimal_result(tick, price,
                                                                             expected):
    assert Instrument("X", price_tick=tick).round_price(price) == expected


@settings(max_examples=300, deadline=None)
@given(tick=st.sampled_from(STEPS), price=st.floats(1e-3, 1e6))
def test_round_price_is_on_tick_and_within_half_a_tick(tick, price):
    inst = Instrument("X", price_tick=tick)
    rounded = inst.round_price(price)
    assert inst.is_on_tick(rounded)
    assert abs(rounded - price) <= tick / 2 * (1 + 1e-9) + 1e-9 * abs(price)
    assert inst.round_price(rounded) == rounded


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "100.0", None])
def test_round_price_of_a_non_finite_or_non_number_raises_invalid_input(bad):
    with pytest.raises(InvalidInput) as info:
        Instrument("X").round_price(bad)
    assert info.value.field == "price"


# --- floor_qty ---------------------------------------------------------------------------

@pytest.mark.parametrize(("step", "qty", "expected"), [
    (0.1, 0.3, 0.3), (0.1, 0.29, 0.2), (0.1, 0.7, 0.7), (0.1, 0.1 + 0.2, 0.3),
    (1.0, 9.999, 9.0), (0.001, 1.0009, 1.0), (1e-8, 34.77466903, 34.77466903),
    (0.01, 9654674.02, 9654674.02), (0.1, -0.37, -0.3), (0.5, 0.49, 0.0),
    (1e-8, 2.3, 2.3), (1e-8, 0.29, 0.29), (0.01, 1.005, 1.0),
    (1e-8, 5000.966796875, 5000.96679687),   # a true half step at 5e11 units is not rounded up
])
def test_floor_qty_rounds_toward_zero_and_keeps_values_already_on_the_step(step, qty,
                                                                           expected):
    assert Instrument("X", qty_step=step).floor_qty(qty) == expected


@settings(max_examples=400, deadline=None)
@given(step=st.sampled_from(STEPS), qty=st.floats(-1e7, 1e7))
def test_floor_qty_never_rounds_up_and_loses_less_than_one_step(step, qty):
    inst = Instrument("X", qty_step=step)
    floored = inst.floor_qty(qty)
    assert abs(floored) <= abs(qty) + 1e-9 * step + 2e-14 * abs(qty)   # float noise only
    assert abs(qty) - abs(floored) < step * (1 + 1e-9)
    assert floored == 0 or math.copysign(1, floored) == math.copysign(1, qty)
    assert inst.is_on_step(floored)


@settings(max_examples=400, deadline=None)
@given(step=st.sampled_from(STEPS), units=st.integers(0, 10**11))
def test_floor_qty_of_a_quantity_on_the_step_returns_it_unchanged(step, units):
    inst = Instrument("X", qty_step=step)
    decimals = max(0, -int(f"{step:e}".split("e")[1]))
    qty = round(units * step, decimals + 2)
    assume(inst.is_on_step(qty))
    assert inst.floor_qty(qty) == qty


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None])
def test_floor_qty_of_a_non_finite_or_non_number_raises_invalid_input(bad):
    with pytest.raises(InvalidInput) as info:
        Instrument("X").floor_qty(bad)
    assert info.value.field == "qty"


# --- grid checks -------------------------------------------------------------------------

@pytest.mark.parametrize(("step", "value"), [
    (0.1, 0.3), (0.1, 0.1 + 0.2), (0.1, 0.7), (0.01, 1.1 * 3), (0.25, 10.75),
    (1e-8, 34.77466903), (0.01, 65_000.01), (5.0, 4_505.0), (0.1, -0.3), (0.01, 0.0),
])
def test_values_on_the_grid_with_float_noise_are_on_tick_and_on_step(step, value):
    inst = Instrument("X", price_tick=step, qty_step=step)
    assert inst.is_on_tick(value)
    assert inst.is_on_step(value)


@pytest.mark.parametrize(("step", "value"), [
    (0.1, 0.35), (0.01, 100.005), (0.25, 10.1), (5.0, 4_502.5),
    (0.01, 65_000.005),          # half a tick at a BTC-sized price
    (1e-8, 10.000000005),        # half a step of 10 BTC
    (0.01, 123_456_789.015),
])
def test_values_between_grid_points_are_not_on_tick_nor_on_step(step, value):
    inst = Instrument("X", price_tick=step, qty_step=step)
    assert not inst.is_on_tick(value)
    assert not inst.is_on_step(value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_on_no_grid(bad):
    inst = Instrument("X")
    assert not inst.is_on_tick(bad) and not inst.is_on_step(bad)


def test_notional_uses_the_absolute_quantity_and_the_multiplier():
    assert Instrument("ES", multiplier=50.0).notional(-2, 4500.0) == 450_000.0


# --- validation --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["price_tick", "qty_step", "multiplier"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0, "0.01", True, None])
def test_positive_fields_reject_nan_negative_zero_and_non_numbers_naming_the_field(name, bad):
    with pytest.raises(InvalidInput) as info:
        Instrument("BTC", **{name: bad})
    assert info.value.field == f"BTC.{name}"
    assert f"BTC.{name}" in str(info.value)


@pytest.mark.parametrize("name", ["min_qty", "min_notional"])
@pytest.mark.parametrize("bad", [math.nan, -0.5, "1", False])
def test_non_negative_fields_reject_nan_negative_and_non_numbers_naming_the_field(name, bad):
    with pytest.raises(InvalidInput) as info:
        Instrument("BTC", **{name: bad})
    assert info.value.field == f"BTC.{name}"


@pytest.mark.parametrize("name", ["min_qty", "min_notional"])
def test_zero_minimums_are_allowed(name):
    assert getattr(Instrument("BTC", **{name: 0.0}), name) == 0.0


@pytest.mark.parametrize("bad", ["", 5, None])
def test_symbol_must_be_a_non_empty_string(bad):
    with pytest.raises(InvalidInput) as info:
        Instrument(bad)
    assert info.value.field == "instrument.symbol"


def test_integer_grid_values_are_accepted():
    inst = Instrument("IDX", price_tick=5, qty_step=1, multiplier=10)
    assert inst.round_price(4502.6) == 4505
    assert inst.floor_qty(2.9) == 2


def test_require_finite_and_is_finite_positive():
    assert require_finite("x", 3) == 3.0 and isinstance(require_finite("x", 3), float)
    with pytest.raises(InvalidInput):
        require_finite("x", -1, non_negative=True)
    assert is_finite_positive(1e-300)
    assert not any(is_finite_positive(v) for v in (0, -1, math.nan, math.inf, True, "1"))


# --- fees --------------------------------------------------------------------------------

def test_fee_uses_maker_or_taker_bps_of_notional():
    fees = FeeSchedule(maker_bps=1.0, taker_bps=5.0)
    assert fees.fee(2, 100.0, 1.0, MAKER, first_fill=False) == pytest.approx(0.02)
    assert fees.fee(2, 100.0, 1.0, TAKER, first_fill=False) == pytest.approx(0.10)


def test_fee_scales_with_the_multiplier_and_uses_the_absolute_quantity():
    fees = FeeSchedule(taker_bps=10.0)
    assert fees.fee(-3, 4500.0, 50.0, TAKER, first_fill=False) == pytest.approx(
        3 * 4500 * 50 * 10e-4)


def test_per_order_fee_is_charged_on_the_first_fill_only():
    fees = FeeSchedule(per_order=1.25)
    assert fees.fee(1, 10.0, 1.0, TAKER, first_fill=True) == pytest.approx(1.25)
    assert fees.fee(1, 10.0, 1.0, TAKER, first_fill=False) == 0.0


def test_per_unit_fee_is_charged_per_unit_of_absolute_quantity():
    fees = FeeSchedule(per_unit=0.005)
    assert fees.fee(-300, 10.0, 1.0, MAKER, first_fill=False) == pytest.approx(1.5)


def test_all_fee_parts_add_up():
    fees = FeeSchedule(maker_bps=-0.5, taker_bps=3.0, per_order=1.0, per_unit=0.01)
    assert fees.fee(100, 20.0, 1.0, MAKER, first_fill=True) == pytest.approx(
        -0.1 + 1.0 + 1.0)
    assert fees.fee(100, 20.0, 1.0, TAKER, first_fill=True) == pytest.approx(0.6 + 1.0 + 1.0)


def test_maker_rebate_as_negative_bps_is_allowed():
    assert FeeSchedule(maker_bps=-2.5).maker_bps == -2.5


@pytest.mark.parametrize("name", ["maker_bps", "taker_bps", "per_order", "per_unit"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None])
def test_fee_fields_reject_nan_and_non_numbers_naming_the_field(name, bad):
    with pytest.raises(InvalidInput) as info:
        FeeSchedule(**{name: bad})
    assert info.value.field == f"fees.{name}"


@pytest.mark.parametrize("name", ["per_order", "per_unit"])
def test_fixed_fee_parts_may_not_be_negative(name):
    with pytest.raises(InvalidInput) as info:
        FeeSchedule(**{name: -0.01})
    assert info.value.field == f"fees.{name}"


def test_instrument_carries_its_fee_schedule():
    inst = Instrument("X", fees=FeeSchedule(taker_bps=2.0))
    assert inst.fees.fee(1, 100.0, inst.multiplier, TAKER, False) == pytest.approx(0.02)
    assert Instrument("Y").fees == FeeSchedule()
