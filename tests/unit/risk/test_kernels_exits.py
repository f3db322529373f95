import asyncio
import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.account import Account, AccountConfig
from engine.broker import Credentials
from engine.clock import SimClock
from engine.enums import ExitReason, SignalSide
from engine.exits import ExitConfig, PlainExitPolicy, Protection
from engine.instruments import Instrument
from engine.messages import PositionClosed, QuoteTick, Signal
from engine.sim import SimAccount, SimBroker
from engine.sizing import SizingConfig, SizingMode
from risk.codes import TrailMode
from risk.exits import ExitArrays, KernelExitPolicy, pack_protections, write_back
from risk.kernels import (
    trail_and_exit_nb,
    trail_and_exit_parallel_nb,
    trail_and_exit_percent_nb,
    trail_and_exit_percent_parallel_nb,
)
from tests.unit.risk.reference import trail_and_exit_reference

NAN = math.nan
INF = math.inf
SEC = 1_000_000_000
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

FLOAT_FIELDS = ("entry", "stop", "take", "trail_param", "atr", "activation", "best",
                "trail_stop", "be_trigger")
INT_FIELDS = ("direction", "trail_mode", "deadline_ns")
ORDER = ("direction", "entry", "stop", "take", "trail_mode", "trail_param", "atr",
         "activation", "best", "trail_stop", "be_trigger", "deadline_ns")
PERCENT_ORDER = ("direction", "stop", "take", "trail_param", "best", "trail_stop",
                 "deadline_ns")


def rows_to_arrays(rows):
    """rows: dicts of kernel fields -> dict of arrays (missing fields get neutral values)."""
    defaults = {"direction": 1, "entry": 100.0, "stop": NAN, "take": NAN,
                "trail_mode": 0, "trail_param": NAN, "atr": NAN, "activation": NAN,
                "best": None, "trail_stop": NAN, "be_trigger": NAN, "deadline_ns": 0}
    out = {}
    for name in ORDER:
        values = [r.get(name, defaults[name]) for r in rows]
        if name == "best":
            values = [r.get("best", r.get("entry", 100.0)) for r in rows]
        out[name] = np.array(values, dtype=np.int64 if name in INT_FIELDS else np.float64)
    return out


def step(arrays, prices, now_ns=0):
    codes = trail_and_exit_nb(*[arrays[k] for k in ORDER],
                              np.asarray(prices, np.float64), now_ns)
    return [ExitReason(c) for c in codes.tolist()]


def walk(row, prices, now_ns=0):
    """One position through a price path: (reasons, trail stops after each tick)."""
    arrays = rows_to_arrays([row])
    reasons, stops = [], []
    for px in prices:
        reasons.append(step(arrays, [px], now_ns)[0])
        stops.append(float(arrays["trail_stop"][0]))
    return reasons, stops


# --- the rules, by example -----------------------------------------------------------------
def test_reason_codes_are_the_engine_exit_reason_values():
    assert [ExitReason.NONE, ExitReason.STOP_LOSS, ExitReason.TAKE_PROFIT,
            ExitReason.TRAILING_STOP, ExitReason.MAX_HOLDING_TIME,
            ExitReason.BREAK_EVEN] == [0, 1, 2, 3, 4, 5]


def test_long_stop_loss_fires_at_or_below_the_stop():
    reasons, _ = walk({"stop": 98.0}, [99.0, 98.5, 98.0])
    assert reasons == [ExitReason.NONE, ExitReason.NONE, ExitReason.STOP_LOSS]


def test_short_take_profit_fires_at_or_below_the_take():
    reasons, _ = walk({"direction": -1, "take": 95.0}, [97.0, 95.0])
    assert reasons == [ExitReason.NONE, ExitReason.TAKE_PROFIT]


def test_percent_trail_follows_the_high_and_never_loosens():
    reasons, stops = walk({"trail_mode": TrailMode.PERCENT, "trail_param": 10.0,
                           "trail_stop": 90.0}, [110.0, 105.0, 120.0, 115.0, 108.0])
    assert stops == pytest.approx([99.0, 99.0, 108.0, 108.0, 108.0])
    assert reasons[-1] is ExitReason.TRAILING_STOP and set(reasons[:-1]) == {ExitReason.NONE}


def test_absolute_trail_stays_a_fixed_distance_behind_the_best_price():
    _, stops = walk({"trail_mode": TrailMode.ABSOLUTE, "trail_param": 2.5},
                    [101.0, 104.0, 103.0])
    assert stops == [98.5, 101.5, 101.5]


def test_atr_trail_stays_a_multiple_of_the_atr_behind_the_best_price():
    _, stops = walk({"direction": -1, "trail_mode": TrailMode.ATR, "trail_param": 3.0,
                     "atr": 0.5}, [99.0, 97.0, 98.0])
    assert stops == [100.5, 98.5, 98.5]


def test_atr_trail_without_a_valid_atr_does_not_trail():
    _, stops = walk({"trail_mode": TrailMode.ATR, "trail_param": 3.0, "atr": NAN},
                    [101.0, 110.0])
    assert all(math.isnan(s) for s in stops)


def test_trail_starts_only_once_the_best_price_reaches_the_activation_price():
    _, stops = walk({"trail_mode": TrailMode.ABSOLUTE, "trail_param": 2.0,
                     "activation": 105.0}, [103.0, 104.0, 106.0, 107.0])
    assert math.isnan(stops[0]) and math.isnan(stops[1])
    assert stops[2:] == [104.0, 105.0]


def test_break_even_fires_at_the_entry_once_the_trigger_profit_was_reached():
    reasons, _ = walk({"be_trigger": 3.0}, [101.0, 100.0, 103.5, 101.0, 100.0])
    assert reasons == [ExitReason.NONE] * 4 + [ExitReason.BREAK_EVEN]


def test_break_even_for_a_short_fires_when_price_is_back_up_at_the_entry():
    reasons, _ = walk({"direction": -1, "be_trigger": 1.0}, [98.0, 100.5])
    assert reasons == [ExitReason.NONE, ExitReason.BREAK_EVEN]


def test_max_holding_time_fires_once_the_deadline_is_reached():
    row = {"deadline_ns": 13 * SEC}
    assert walk(row, [100.0], now_ns=13 * SEC - 1)[0] == [ExitReason.NONE]
    assert walk(row, [100.0], now_ns=13 * SEC)[0] == [ExitReason.MAX_HOLDING_TIME]


def test_stop_loss_wins_over_every_other_exit():
    row = {"stop": 101.0, "take": 99.0, "trail_stop": 105.0, "deadline_ns": 1}
    assert walk(row, [100.0], now_ns=SEC)[0] == [ExitReason.STOP_LOSS]


def test_trailing_stop_is_checked_before_break_even_and_holding_time():
    row = {"trail_stop": 100.5, "be_trigger": 0.0, "deadline_ns": 1}
    assert walk(row, [100.0], now_ns=SEC)[0] == [ExitReason.TRAILING_STOP]


@pytest.mark.parametrize("price", [NAN, INF, -INF, 0.0, -5.0])
def test_a_bad_price_never_exits_and_never_moves_the_state(price):
    arrays = rows_to_arrays([{"stop": 98.0, "trail_mode": TrailMode.PERCENT,
                              "trail_param": 5.0, "trail_stop": 95.0, "deadline_ns": 1}])
    before = copy.deepcopy(arrays)
    assert step(arrays, [price], now_ns=SEC) == [ExitReason.NONE]
    for name in ORDER:
        np.testing.assert_array_equal(arrays[name], before[name])


@pytest.mark.parametrize("direction", [0, 2, -3])
def test_a_row_without_a_direction_of_plus_or_minus_one_is_left_alone(direction):
    reasons, _ = walk({"direction": direction, "stop": 200.0}, [100.0])
    assert reasons == [ExitReason.NONE]


def test_an_empty_batch_returns_an_empty_array():
    assert step(rows_to_arrays([]), []) == []


# --- properties ----------------------------------------------------------------------------
special = st.sampled_from([NAN, INF, -INF, 0.0, -1.0])
level = st.one_of(special, st.floats(80.0, 120.0))
good_exit_row = st.fixed_dictionaries({
    "direction": st.sampled_from([1, -1]),
    "entry": st.floats(90.0, 110.0),
    "stop": st.one_of(st.just(NAN), st.floats(80.0, 120.0)),
    "take": st.one_of(st.just(NAN), st.floats(80.0, 120.0)),
    "trail_mode": st.sampled_from(list(TrailMode)),
    "trail_param": st.floats(0.1, 15.0),
    "atr": st.floats(0.1, 5.0),
    "activation": st.one_of(st.just(NAN), st.floats(80.0, 120.0)),
    "best": st.floats(90.0, 110.0),
    "trail_stop": st.one_of(st.just(NAN), st.floats(80.0, 120.0)),
    "be_trigger": st.one_of(st.just(NAN), st.floats(0.0, 10.0)),
    "deadline_ns": st.one_of(st.just(0), st.integers(-SEC, 300 * SEC)),
})


@st.composite
def exit_row(draw):
    """A valid position row, one field broken about one time in three."""
    row = draw(good_exit_row)
    if draw(st.integers(0, 2)) == 0:
        field = draw(st.sampled_from(sorted(row)))
        if field == "direction":
            row[field] = draw(st.sampled_from([0, 2, -3]))
        elif field == "trail_mode":
            row[field] = draw(st.sampled_from([-1, 4, 99]))
        elif field in INT_FIELDS:
            row[field] = draw(st.sampled_from([0, -1, 10**15, -(2**63), 2**63 - 1]))
        else:
            row[field] = draw(special)
    return row


exit_rows = st.lists(exit_row(), max_size=20)
price_paths = st.lists(st.lists(st.one_of(special, st.floats(70.0, 130.0)),
                                min_size=20, max_size=20), min_size=1, max_size=8)


def _resized(paths, n):
    return [(path * (n // len(path) + 1))[:n] for path in paths]


@SETTINGS
@given(rows=exit_rows, paths=price_paths, t0=st.integers(0, 200 * SEC))
def test_trail_and_exit_kernel_matches_the_plain_python_reference(rows, paths, t0):
    arrays = rows_to_arrays(rows)
    lists = {k: v.tolist() for k, v in arrays.items()}
    for tick, prices in enumerate(_resized(paths, len(rows))):
        now = t0 + tick * 10 * SEC
        codes = trail_and_exit_nb(*[arrays[k] for k in ORDER], np.array(prices), now)
        expected = trail_and_exit_reference(*[lists[k] for k in ORDER], prices, now)
        assert codes.tolist() == expected
        np.testing.assert_array_equal(arrays["best"], np.array(lists["best"]))
        np.testing.assert_array_equal(arrays["trail_stop"], np.array(lists["trail_stop"]))


@SETTINGS
@given(rows=exit_rows, paths=price_paths, t0=st.integers(0, 200 * SEC))
def test_the_parallel_exit_kernel_matches_the_single_threaded_one(rows, paths, t0):
    single, parallel = rows_to_arrays(rows), rows_to_arrays(rows)
    for tick, prices in enumerate(_resized(paths, len(rows))):
        now = t0 + tick * 10 * SEC
        px = np.array(prices)
        a = trail_and_exit_nb(*[single[k] for k in ORDER], px, now)
        b = trail_and_exit_parallel_nb(*[parallel[k] for k in ORDER], px, now)
        assert a.tolist() == b.tolist()
        np.testing.assert_array_equal(single["best"], parallel["best"])
        np.testing.assert_array_equal(single["trail_stop"], parallel["trail_stop"])


@SETTINGS
@given(rows=exit_rows, paths=price_paths)
def test_a_trailing_stop_never_loosens_along_a_random_price_path(rows, paths):
    arrays = rows_to_arrays(rows)
    direction = arrays["direction"]
    for prices in _resized(paths, len(rows)):
        before = arrays["trail_stop"].copy()
        trail_and_exit_nb(*[arrays[k] for k in ORDER], np.array(prices), 0)
        after = arrays["trail_stop"]
        was_set = ~np.isnan(before)
        assert not np.isnan(after[was_set]).any()
        moved = was_set & (after != before)
        assert ((after[moved] - before[moved]) * direction[moved] > 0).all()


@st.composite
def percent_row(draw):
    """A row the percent kernel accepts: trail_mode PERCENT (any trail_param), or NONE
    without a valid trail_param; no activation and no break-even trigger."""
    row = draw(exit_row())
    row["activation"] = NAN
    row["be_trigger"] = draw(st.sampled_from([NAN, -1.0, -INF]))
    if row["trail_mode"] != TrailMode.PERCENT or draw(st.booleans()):
        row["trail_mode"] = draw(st.sampled_from([TrailMode.NONE, TrailMode.PERCENT]))
        if row["trail_mode"] == TrailMode.NONE:
            row["trail_param"] = draw(special)
    return row


percent_rows = st.lists(percent_row(), max_size=20)


@SETTINGS
@given(rows=percent_rows, paths=price_paths, t0=st.integers(0, 200 * SEC))
def test_the_percent_exit_kernels_match_the_general_kernel_on_a_percent_book(rows, paths,
                                                                            t0):
    general, single, parallel = (rows_to_arrays(rows) for _ in range(3))
    assert ExitArrays(**general).is_percent_book()
    for tick, prices in enumerate(_resized(paths, len(rows))):
        now = t0 + tick * 10 * SEC
        px = np.array(prices)
        expected = trail_and_exit_nb(*[general[k] for k in ORDER], px, now)
        a = trail_and_exit_percent_nb(*[single[k] for k in PERCENT_ORDER], px, now)
        b = trail_and_exit_percent_parallel_nb(*[parallel[k] for k in PERCENT_ORDER], px,
                                               now)
        assert a.tolist() == b.tolist() == expected.tolist()
        for arrays in (single, parallel):
            np.testing.assert_array_equal(arrays["best"], general["best"])
            np.testing.assert_array_equal(arrays["trail_stop"], general["trail_stop"])


@pytest.mark.parametrize("row", [
    {"trail_mode": TrailMode.ABSOLUTE, "trail_param": 1.0},
    {"trail_mode": TrailMode.NONE, "trail_param": 1.0},
    {"trail_mode": TrailMode.PERCENT, "trail_param": 1.0, "activation": 101.0},
    {"trail_mode": TrailMode.PERCENT, "trail_param": 1.0, "be_trigger": 0.0},
])
def test_a_book_with_another_trail_activation_or_break_even_is_not_a_percent_book(row):
    assert not ExitArrays(**rows_to_arrays([{"trail_mode": TrailMode.PERCENT,
                                             "trail_param": 2.0}, row])).is_percent_book()


# --- KernelExitPolicy against PlainExitPolicy ----------------------------------------------
positive_pct = st.floats(0.01, 99.0)
protections = st.lists(st.builds(
    Protection,
    symbol=st.just("X"),
    direction=st.sampled_from([1, -1]),
    entry=st.floats(90.0, 110.0),
    opened_ns=st.integers(0, 100 * SEC),
    stop=st.one_of(st.just(NAN), level),
    take=st.one_of(st.just(NAN), level),
    trailing_pct=st.one_of(st.just(NAN), positive_pct),
    best=st.one_of(st.just(NAN), st.floats(80.0, 120.0)),
    trail_stop=st.one_of(st.just(NAN), level),
    deadline_ns=st.one_of(st.just(0), st.integers(0, 200 * SEC)),
), max_size=20)
configured = st.lists(st.builds(
    lambda d, entry, t, sl, tp, trail, hold: Protection.for_position(
        "X", d, entry, t, ExitConfig(sl, tp, trail, hold)),
    st.sampled_from([1, -1]), st.floats(50.0, 150.0), st.integers(0, 100 * SEC),
    st.one_of(st.none(), positive_pct), st.one_of(st.none(), st.floats(0.01, 500.0)),
    st.one_of(st.none(), positive_pct), st.one_of(st.none(), st.floats(1e-10, 300.0)),
), max_size=20)


@SETTINGS
@given(protections=st.one_of(protections, configured), paths=price_paths,
       t0=st.integers(0, 300 * SEC))
def test_kernel_exit_policy_agrees_with_plain_exit_policy_on_random_protections(
        protections, paths, t0):
    plain_side = copy.deepcopy(protections)
    kernel_side = copy.deepcopy(protections)
    plain, kernel = PlainExitPolicy(), KernelExitPolicy()
    for tick, prices in enumerate(_resized(paths, len(protections))):
        now = t0 + tick * 20 * SEC
        assert kernel.evaluate(kernel_side, prices, now) == plain.evaluate(
            plain_side, prices, now)
        np.testing.assert_array_equal([(p.best, p.trail_stop) for p in kernel_side],
                                      [(p.best, p.trail_stop) for p in plain_side])


def test_kernel_exit_policy_returns_exit_reason_members():
    p = Protection.for_position("X", 1, 100.0, 0, ExitConfig(stop_loss_pct=1.0))
    assert KernelExitPolicy().evaluate([p], [98.0], 0) == [ExitReason.STOP_LOSS]
    assert KernelExitPolicy().evaluate([], [], 0) == []


def test_kernel_exit_policy_rejects_a_price_list_of_another_length():
    with pytest.raises(ValueError):
        KernelExitPolicy().evaluate([Protection("X", 1, 100.0, 0)], [], 0)


@pytest.mark.parametrize("exits, path, reason", [
    (ExitConfig(trailing_pct=5.0), [110.0, 104.4], ExitReason.TRAILING_STOP),
    (ExitConfig(stop_loss_pct=2.0, max_holding_s=2.5), [100.0] * 3,
     ExitReason.MAX_HOLDING_TIME),
])
def test_an_account_with_the_kernel_exit_policy_closes_positions_like_the_plain_one(
        exits, path, reason):
    spy = Instrument("SPY", qty_step=1.0, min_qty=1.0)
    clock = SimClock(1_700_000_000 * SEC)
    broker = SimBroker([spy], {"A1": SimAccount(100_000.0, "key", "secret", False)},
                       clock=clock)
    config = AccountConfig("A1", sizing=SizingConfig(SizingMode.FIXED_QUANTITY, quantity=10),
                           exits=exits)
    account = Account(config, broker, Credentials("A1", "key", "secret"), [spy], clock,
                      exit_policy=KernelExitPolicy())

    def quote(price):
        clock.advance(1.0)
        now = clock.now_ns()
        tick = QuoteTick("SPY", price - 0.01, price, 1_000.0, 1_000.0, now, now)
        broker.on_quote(tick)
        account.on_quote(tick)

    async def go():
        await account.start()
        quote(100.0)
        now = clock.now_ns()
        await account.on_signal(Signal("s1", "test", "SPY", SignalSide.LONG, now, now))
        events = []
        for price in path:
            quote(price)
            events += await account.check_exits()
        return events

    closed = [e for e in asyncio.run(go()) if isinstance(e, PositionClosed)]
    assert [e.reason for e in closed] == [reason]


def test_packing_then_writing_back_leaves_the_protections_unchanged():
    ps = [Protection.for_position("X", d, 100.0, 5, ExitConfig(2.0, 3.0, 4.0, 60.0))
          for d in (1, -1)] + [Protection("Y", 1, 50.0, 0)]
    before = copy.deepcopy(ps)
    arrays = pack_protections(ps)
    assert arrays.trail_mode.tolist() == [TrailMode.PERCENT, TrailMode.PERCENT, TrailMode.NONE]
    assert arrays.deadline_ns.tolist() == [5 + 60 * SEC, 5 + 60 * SEC, 0]
    assert arrays.percent_only and arrays.is_percent_book()
    write_back(arrays, ps)
    assert repr(ps) == repr(before)


def test_a_deadline_at_or_before_the_opening_fires_at_the_deadline_like_the_plain_policy():
    p = Protection("X", 1, 100.0, opened_ns=10 * SEC, deadline_ns=7 * SEC)
    arrays = pack_protections([p])
    assert arrays.evaluate(np.array([100.0]), 7 * SEC - 1).tolist() == [ExitReason.NONE]
    assert arrays.evaluate(np.array([100.0]), 7 * SEC).tolist() == [
        ExitReason.MAX_HOLDING_TIME]
