"""`size_fleet_nb`'s common-case pass (blocks of rows, exact divisions by per-call constants)
against the plain-Python reference, on fleets larger than one block and on the rows it
must hand to the general row: extreme amounts, sizes at the step grid, exact cap fits."""

import math

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numba import njit

from engine.instruments import Instrument
from risk.codes import SizeStatus, SizingModeCode
from risk.kernels import _BLOCK, _div_exact, size_fleet_nb, size_fleet_parallel_nb
from tests.unit.risk.reference import size_fleet_reference
from tests.unit.risk.test_kernels_sizing import SCALARS, fleet_arrays, fleet_row, scalars

INF = math.inf
NAN = math.nan
M = SizingModeCode


@njit(error_model="numpy")
def _div_all(a, b):
    out = np.empty_like(a)
    recip = 1.0 / b
    for i in range(a.shape[0]):
        out[i] = _div_exact(a[i], b, recip)
    return out


def assert_matches_reference(arrays, sc):
    qty, status = size_fleet_nb(*arrays, *sc)
    ref_qty, ref_status = size_fleet_reference(*[a.tolist() for a in arrays], *sc)
    assert status.tolist() == ref_status
    assert qty.tolist() == ref_qty
    par_qty, par_status = size_fleet_parallel_nb(*arrays, *sc)
    assert par_status.tolist() == ref_status
    assert par_qty.tolist() == ref_qty


def test_exact_division_by_a_constant_rounds_as_ieee_division():
    rng = np.random.default_rng(3)
    divisors = [100.0, 10.0, 1.0, 3.0, 0.01, 0.3, 123.45, 123.45 * 1.000075, 1e-45, 7e44,
                math.nextafter(2.0, 0.0), math.nextafter(1.0, 2.0), 1.5]
    divisors += [10.0 ** d for d in range(18)] + list(10 ** rng.uniform(-45, 45, 20))
    for b in divisors:
        wide = 10 ** rng.uniform(-100, 100, 20_000)
        integers = np.floor(10 ** rng.uniform(0, 15.9, 20_000))
        exact_multiples = 10 ** rng.uniform(-40, 40, 20_000) * b
        significands = rng.uniform(1, 2, 20_000) * 2.0 ** rng.integers(-150, 150, 20_000)
        a = np.concatenate([wide, integers, exact_multiples, significands, [0.0]])
        assert np.array_equal(_div_all(a, b), a / b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=st.lists(fleet_row(), min_size=1, max_size=40), sc=scalars(),
       seed=st.integers(0, 2**32 - 1), mode_dtype=st.sampled_from([np.int64, np.int8]))
# 630173957362 / 0.02 = 31508697868100 -> 450124255258571 steps of 0.07, whose float
# product 31508697868099.97265625 rounds to 31508697868099.97 (round(x, 2)); x * 100 rounds
# up to ...97.5, so floor(x * 100 + 0.5) / 100 gave ...98
@example(head=[(1.0, 1.0, 0, 1.0, INF, INF)] * 3 + [(1.0, 630173957362.0, 3, 1.0, INF, INF)],
         sc={"price": 0.01, "stop_price": 1.0, "atr": 1.0, "qty_step": 0.07, "min_qty": 0.0,
             "min_notional": 0.0, "multiplier": 2.0, "taker_fee_bps": 0.0},
         seed=0, mode_dtype=np.int64)
def test_a_fleet_of_several_blocks_matches_the_reference(head, sc, seed, mode_dtype):
    # the drawn rows, repeated and shuffled over more than two blocks and a partial one
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(head), 2 * _BLOCK + 77)
    arrays = [a[picks] for a in fleet_arrays(head)]
    arrays[2] = arrays[2].astype(mode_dtype)
    assert_matches_reference(arrays, [sc[k] for k in SCALARS])


def test_sizes_at_the_step_grid_match_the_reference_in_every_mode():
    k = np.arange(0.0, 1500.0)
    n = k.size
    for step in (0.01, 0.1, 0.001, 0.25, 1.0, 0.3):
        for price in (1.0, 123.45, 0.1):
            on_grid = k * step
            for mode in M:
                param = {M.FIXED_QUANTITY: on_grid, M.FIXED_NOTIONAL: on_grid * price,
                         M.PERCENT_EQUITY: np.full(n, 100.0)}.get(mode, np.full(n, 0.01))
                equity = on_grid * price if mode is M.PERCENT_EQUITY else np.full(n, 1e5)
                cash = np.where(k % 3 == 0, on_grid * price * (1 + 7.5e-4), 1e9)
                max_qty = np.where(k % 5 == 0, on_grid, INF)
                max_notional = np.where(k % 7 == 0, on_grid * price, INF)
                arrays = [equity, cash, np.full(n, int(mode), np.int8), param, max_qty,
                          max_notional]
                assert_matches_reference(
                    arrays, [price, price * 0.9, 0.5, step, 0.0, 0.0, 1.0, 7.5])


def test_extreme_amounts_in_a_large_fleet_match_the_reference():
    rng = np.random.default_rng(5)
    n = 3 * _BLOCK
    extreme = np.array([5e-324, 1e-310, 1e-60, 1e-51, 1e-49, 1e49, 1e51, 1e60, 1e300,
                        NAN, INF, -INF, 0.0, -1.0])

    def column(low, high):
        x = 10 ** rng.uniform(low, high, n)
        return np.where(rng.random(n) < 0.2, extreme[rng.integers(0, extreme.size, n)], x)

    arrays = [column(2, 7), column(2, 7), rng.integers(-1, 7, n).astype(np.int8),
              column(-3, 4), np.where(rng.random(n) < 0.5, INF, column(-3, 5)),
              np.where(rng.random(n) < 0.5, INF, column(0, 8))]
    # per-call amounts inside and outside the common range (the last three: all rows
    # go to the general row); steps within the 17 decimals the reference rounds to
    for sc in ([123.45, 120.0, 2.5, 0.01, 0.01, 5.0, 1.0, 7.5],
               [1e-45, 0.5e-45, 1e-46, 0.01, 0.0, 0.0, 1.0, 0.0],
               [1e45, 0.9e45, 1e43, 1.0, 0.0, 0.0, 1.0, 0.0],
               [50.0, 49.0, 1e-60, 1e-6, 0.0, 0.0, 1.0, 0.0],
               [50.0, NAN, 2.0, 1e-9, 0.0, 0.0, 1.0, 3.0],
               [1e-55, 0.5e-55, 1e-56, 0.01, 0.0, 0.0, 1.0, 0.0],
               [1e55, 0.9e55, 1e53, 1.0, 0.0, 0.0, 1.0, 0.0],
               [50.0, 49.0, 2.0, 1e7, 0.0, 0.0, 1e44, 0.0]):
        assert_matches_reference(arrays, sc)


def test_a_size_the_step_tolerance_lifts_over_a_cap_is_lowered_in_every_block():
    cash = 0.3 * 100.0 * (1 - 3e-11)
    n = 2 * _BLOCK + 3
    arrays = [np.full(n, 1e6), np.where(np.arange(n) % 2 == 1, cash, 1e9),
              np.full(n, int(M.FIXED_QUANTITY), np.int8),
              np.where(np.arange(n) % 2 == 1, 1.0, 2.0), np.full(n, INF), np.full(n, INF)]
    qty, status = size_fleet_nb(*arrays, 100.0, NAN, NAN, 0.1, 0.0, 0.0, 1.0, 0.0)
    assert qty.tolist() == [2.0 if i % 2 == 0 else 0.2 for i in range(n)]
    assert status.tolist() == [SizeStatus.OK if i % 2 == 0 else SizeStatus.CAPPED_CASH
                               for i in range(n)]


def test_sizes_of_many_units_round_onto_the_step_as_floor_qty():
    # (mode, param or cash, price, multiplier, step, the raw size floor_qty gets)
    cases = [
        # the product units x step, rounded to the step's decimals, as Python's round:
        # x x 100 is a half only after float rounding (general row)
        (M.ALL_CASH, 630173957362.0, 0.01, 2.0, 0.07, 31508697868100.0),
        # from 5e13 units the grid tolerance is half a step: a count ending in .5 is a
        # tie that round() gives to the even number (common-case pass)
        (M.FIXED_QUANTITY, 50000000000000.5, 1.0, 1.0, 1.0, 50000000000000.5),
        (M.FIXED_QUANTITY, 50000000000001.5, 1.0, 1.0, 1.0, 50000000000001.5),
        (M.FIXED_QUANTITY, 500000000000.005, 1.0, 1.0, 0.01, 500000000000.005),
        (M.FIXED_QUANTITY, 2.0**51 + 0.5, 1.0, 1.0, 1.0, 2.0**51 + 0.5),
    ]
    for mode, amount, price, mult, step, raw in cases:
        expected = Instrument("X", qty_step=step, multiplier=mult).floor_qty(raw)
        cash = amount if mode is M.ALL_CASH else 1e300
        for n in (1, 2 * _BLOCK + 3):
            arrays = [np.full(n, 1.0), np.full(n, cash), np.full(n, int(mode), np.int8),
                      np.full(n, amount), np.full(n, INF), np.full(n, INF)]
            sc = [price, NAN, NAN, step, 0.0, 0.0, mult, 0.0]
            assert_matches_reference(arrays, sc)
            assert size_fleet_nb(*arrays, *sc)[0].tolist() == [expected] * n
