"""The synthetic market: seeded, on the instrument's grids, with regimes and jumps that show."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data.synthetic import (
    SECONDS_PER_YEAR,
    BarArrays,
    QuoteArrays,
    SyntheticConfig,
    generate_bar_arrays,
    generate_bars,
    generate_quotes,
    iter_quote_ticks,
)
from engine.errors import ConfigError, InvalidInput
from engine.instruments import Instrument
from engine.messages import Bar, QuoteTick

MINUTE_NS = 60 * 1_000_000_000
QUOTE_COLUMNS = ("symbol_id", "ts_ns", "bid", "ask", "bid_size", "ask_size", "regime", "jumps")
BAR_COLUMNS = ("symbol_id", "ts_ns", "open", "high", "low", "close", "volume")

INSTRUMENTS = (
    Instrument("EQ", price_tick=0.01, qty_step=1.0),
    Instrument("FUT", price_tick=0.25, qty_step=1.0, min_qty=5.0, multiplier=50.0),
    Instrument("BTC", price_tick=0.1, qty_step=1e-5),
    Instrument("IDX", price_tick=5.0, qty_step=0.5),
)
VOLATILE = SyntheticConfig(
    seed=11, regime_vols=(0.4, 1.0, 2.5), regime_durations_s=(600.0, 300.0, 120.0),
    jumps_per_day=200.0, jump_std=0.01, initial_prices={"FUT": 4500.0, "BTC": 65_000.0},
)


def _columns_equal(a, b, columns) -> bool:
    return all(np.array_equal(getattr(a, c), getattr(b, c)) for c in columns)


def _units(values: np.ndarray, step: float) -> np.ndarray:
    return values / step


def _on_grid(values: np.ndarray, step: float) -> bool:
    units = _units(values, step)
    return bool(np.all(np.abs(units - np.rint(units)) <= 1e-9 * np.maximum(1.0, np.abs(units))))


# --- determinism -------------------------------------------------------------------------

def test_same_seed_gives_identical_quotes_and_bars():
    assert _columns_equal(generate_quotes(INSTRUMENTS, 2000, VOLATILE),
                          generate_quotes(INSTRUMENTS, 2000, VOLATILE), QUOTE_COLUMNS)
    assert _columns_equal(generate_bar_arrays(INSTRUMENTS, 200, MINUTE_NS, VOLATILE),
                          generate_bar_arrays(INSTRUMENTS, 200, MINUTE_NS, VOLATILE),
                          BAR_COLUMNS)


def test_different_seeds_give_different_prices_times_and_bars():
    a = generate_quotes(["X"], 500, SyntheticConfig(seed=1))
    b = generate_quotes(["X"], 500, SyntheticConfig(seed=2))
    assert not np.array_equal(a.ts_ns, b.ts_ns)
    assert not np.array_equal(a.bid, b.bid)
    bars_a = generate_bar_arrays(["X"], 100, MINUTE_NS, SyntheticConfig(seed=1))
    bars_b = generate_bar_arrays(["X"], 100, MINUTE_NS, SyntheticConfig(seed=2))
    assert not np.array_equal(bars_a.close, bars_b.close)


def test_different_symbols_with_the_same_seed_follow_different_paths():
    q = generate_quotes(["A", "B"], 500)
    assert not np.array_equal(q.select("A").bid, q.select("B").bid)


def test_a_symbols_data_do_not_depend_on_the_other_symbols_generated_with_it():
    alone = generate_quotes(["B"], 1000, VOLATILE)
    together = generate_quotes(["A", "B", "C"], 1000, VOLATILE).select("B")
    assert _columns_equal(alone, together, QUOTE_COLUMNS)


def test_asking_for_more_data_extends_the_series_instead_of_redrawing_it():
    short = generate_quotes(["A"], 1000, VOLATILE)
    long = generate_quotes(["A"], 5000, VOLATILE)
    for column in QUOTE_COLUMNS:
        assert np.array_equal(getattr(short, column), getattr(long, column)[:1000])
    short_bars = generate_bar_arrays(["A"], 50, MINUTE_NS, VOLATILE)
    long_bars = generate_bar_arrays(["A"], 400, MINUTE_NS, VOLATILE)
    for column in BAR_COLUMNS:
        assert np.array_equal(getattr(short_bars, column), getattr(long_bars, column)[:50])


# --- quote invariants --------------------------------------------------------------------

@pytest.fixture(scope="module")
def quotes() -> QuoteArrays:
    return generate_quotes(INSTRUMENTS, 20_000, VOLATILE)


def test_quote_arrays_have_the_documented_dtypes_and_lengths(quotes):
    assert len(quotes) == 4 * 20_000
    assert quotes.symbols == tuple(i.symbol for i in INSTRUMENTS)
    assert quotes.ts_ns.dtype == np.int64
    for column in ("bid", "ask", "bid_size", "ask_size"):
        assert getattr(quotes, column).dtype == np.float64
        assert len(getattr(quotes, column)) == len(quotes)


def test_quotes_are_in_timestamp_order_across_symbols_and_strictly_increasing_per_symbol(
        quotes):
    assert np.all(np.diff(quotes.ts_ns) >= 0)
    assert quotes.ts_ns[0] > VOLATILE.start_ns
    for inst in INSTRUMENTS:
        assert np.all(np.diff(quotes.select(inst.symbol).ts_ns) > 0)


@pytest.mark.parametrize("inst", INSTRUMENTS, ids=lambda i: i.symbol)
def test_bid_is_below_ask_by_at_least_one_tick_and_both_are_positive_and_on_tick(
        quotes, inst):
    q = quotes.select(inst.symbol)
    assert np.all(q.bid > 0)
    assert np.all(q.bid < q.ask)
    assert np.all(np.rint(_units(q.ask - q.bid, inst.price_tick)) >= 1)
    assert _on_grid(q.bid, inst.price_tick) and _on_grid(q.ask, inst.price_tick)
    # and the engine's own grid check agrees on a sample
    for bid, ask in zip(q.bid[::997].tolist(), q.ask[::997].tolist(), strict=True):
        assert inst.is_on_tick(bid) and inst.is_on_tick(ask)


@pytest.mark.parametrize("inst", INSTRUMENTS, ids=lambda i: i.symbol)
def test_sizes_are_positive_on_the_quantity_step_and_at_least_the_minimum(quotes, inst):
    q = quotes.select(inst.symbol)
    for sizes in (q.bid_size, q.ask_size):
        assert np.all(sizes > 0)
        assert np.all(sizes >= max(inst.min_qty, inst.qty_step) - 1e-12)
        assert _on_grid(sizes, inst.qty_step)


def test_initial_price_override_sets_where_a_symbol_starts(quotes):
    assert quotes.select("BTC").mid[0] == pytest.approx(65_000.0, rel=1e-3)
    assert quotes.select("EQ").mid[0] == pytest.approx(100.0, rel=1e-3)


def test_minimum_spread_in_ticks_is_honoured():
    cfg = SyntheticConfig(min_spread_ticks=3, spread_bps=0.01)
    q = generate_quotes([Instrument("X", price_tick=0.01)], 5000, cfg)
    assert np.all(np.rint((q.ask - q.bid) / 0.01) >= 3)


def test_a_price_tick_coarser_than_the_spread_still_gives_a_one_tick_market():
    cfg = SyntheticConfig(initial_price=20.0, spread_bps=1.0)
    q = generate_quotes([Instrument("X", price_tick=1.0)], 5000, cfg)
    assert np.all(q.ask - q.bid >= 1.0)
    assert np.all(q.bid >= 1.0)


def test_spread_widens_with_volatility_regime(quotes):
    q = quotes.select("EQ")
    relative = (q.ask - q.bid) / q.mid
    medians = [np.median(relative[q.regime == r]) for r in range(3)]
    assert medians[0] < medians[1] < medians[2]


def test_quote_ticks_iterate_in_timestamp_order_and_match_the_arrays():
    q = generate_quotes(["A", "B", "C"], 300, VOLATILE)
    ticks = list(iter_quote_ticks(["A", "B", "C"], 300, VOLATILE))
    assert len(ticks) == len(q)
    assert all(isinstance(t, QuoteTick) for t in ticks)
    assert [t.ts_event for t in ticks] == sorted(t.ts_event for t in ticks)
    assert [t.symbol for t in ticks] == [q.symbols[i] for i in q.symbol_id]
    first = ticks[0]
    assert (first.bid, first.ask, first.bid_size, first.ask_size, first.ts_event) == (
        q.bid[0], q.ask[0], q.bid_size[0], q.ask_size[0], q.ts_ns[0])
    assert first.ts_init == first.ts_event
    assert type(first.bid) is float and type(first.ts_event) is int  # orjson-ready


# --- regimes and jumps -------------------------------------------------------------------

def _realized_vol_by_regime(cfg: SyntheticConfig, n: int) -> dict[int, float]:
    """Annualised realized volatility of the mid over steps spent wholly in one regime."""
    q = generate_quotes([Instrument("X", price_tick=1e-4)], n, cfg)
    r = np.diff(np.log(q.mid))
    dt_years = np.diff(q.ts_ns) / 1e9 / SECONDS_PER_YEAR
    same = q.regime[1:] == q.regime[:-1]
    out = {}
    for regime in range(len(cfg.regime_vols)):
        sel = same & (q.regime[1:] == regime)
        out[regime] = float(np.sqrt(np.mean(r[sel] ** 2 / dt_years[sel])))
    return out


def test_volatility_regimes_change_realized_volatility_in_proportion():
    cfg = SyntheticConfig(seed=3, regime_vols=(0.2, 0.6, 1.8),
                          regime_durations_s=(36_000.0, 18_000.0, 9_000.0),
                          jumps_per_day=0.0, quote_interval_s=60.0)
    realized = _realized_vol_by_regime(cfg, 60_000)
    for regime, target in enumerate(cfg.regime_vols):
        assert realized[regime] == pytest.approx(target, rel=0.1)
    assert realized[2] / realized[0] > 5


def test_a_two_state_regime_model_alternates_between_its_two_volatilities():
    cfg = SyntheticConfig(seed=5, regime_vols=(0.3, 0.9), regime_durations_s=(20_000.0, 5_000.0),
                          jumps_per_day=0.0, quote_interval_s=60.0)
    realized = _realized_vol_by_regime(cfg, 40_000)
    assert realized[0] == pytest.approx(0.3, rel=0.1)
    assert realized[1] == pytest.approx(0.9, rel=0.1)


def test_regimes_switch_and_share_time_in_proportion_to_their_mean_durations():
    cfg = SyntheticConfig(seed=9, regime_durations_s=(3_000.0, 2_000.0, 1_000.0),
                          quote_interval_s=10.0)
    q = generate_quotes(["X"], 200_000, cfg)
    switches = int(np.count_nonzero(np.diff(q.regime)))
    horizon_s = (q.ts_ns[-1] - q.ts_ns[0]) / 1e9
    expected_switches = horizon_s / 2_000.0      # mean holding time, weighted by visits
    assert switches == pytest.approx(expected_switches, rel=0.2)
    shares = np.bincount(q.regime, minlength=3) / len(q)
    assert shares == pytest.approx([0.5, 1 / 3, 1 / 6], abs=0.06)


def test_initial_regime_fixes_the_regime_at_the_start():
    for regime in (0, 1, 2):
        cfg = SyntheticConfig(initial_regime=regime, regime_durations_s=(1e6, 1e6, 1e6))
        assert generate_quotes(["X"], 10, cfg).regime[0] == regime


def test_jumps_occur_at_the_configured_rate():
    cfg = SyntheticConfig(seed=21, jumps_per_day=48.0, quote_interval_s=30.0)
    q = generate_quotes(["X"], 100_000, cfg)
    days = (q.ts_ns[-1] - q.ts_ns[0]) / 1e9 / 86_400
    expected = cfg.jumps_per_day * days        # ~1,667
    assert abs(int(q.jumps.sum()) - expected) < 5 * math.sqrt(expected)


def test_jumps_show_in_the_price_path_as_outsized_returns():
    cfg = SyntheticConfig(seed=4, regime_vols=(0.01, 0.01), regime_durations_s=(1e4, 1e4),
                          jumps_per_day=20.0, jump_std=0.02, quote_interval_s=60.0)
    q = generate_quotes([Instrument("X", price_tick=1e-5)], 50_000, cfg)
    r = np.abs(np.diff(np.log(q.mid)))
    step_sigma = 0.01 * math.sqrt(60.0 / SECONDS_PER_YEAR)
    outsized = r > 20 * step_sigma
    jumped = q.jumps[1:] > 0
    assert jumped.sum() > 300
    # almost every jump is visible, and nothing else is that large
    assert np.count_nonzero(outsized & jumped) >= 0.97 * jumped.sum()
    assert np.count_nonzero(outsized & ~jumped) == 0


def test_zero_jump_rate_gives_no_jumps():
    q = generate_quotes(["X"], 20_000, SyntheticConfig(jumps_per_day=0.0))
    assert q.jumps.sum() == 0


# --- bars --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bars() -> BarArrays:
    return generate_bar_arrays(INSTRUMENTS, 3_000, 5 * MINUTE_NS, VOLATILE)


@pytest.mark.parametrize("inst", INSTRUMENTS, ids=lambda i: i.symbol)
def test_bars_are_consistent_positive_and_on_the_grids(bars, inst):
    b = bars.select(inst.symbol)
    assert len(b) == 3_000
    assert np.all(b.low <= np.minimum(b.open, b.close))
    assert np.all(np.maximum(b.open, b.close) <= b.high)
    assert np.all(b.low > 0)
    assert np.all(b.volume > 0)
    for column in (b.open, b.high, b.low, b.close):
        assert _on_grid(column, inst.price_tick)
    assert _on_grid(b.volume, inst.qty_step)


def test_bars_are_stamped_at_their_close_on_a_regular_grid(bars):
    b = bars.select("EQ")
    expected = VOLATILE.start_ns + 5 * MINUTE_NS * np.arange(1, 3_001)
    assert np.array_equal(b.ts_ns, expected)
    assert np.all(np.diff(bars.ts_ns) >= 0)


def test_each_bar_opens_at_the_previous_close(bars):
    b = bars.select("BTC")
    assert np.array_equal(b.open[1:], b.close[:-1])
    assert b.open[0] == pytest.approx(65_000.0)


def test_bars_move_and_have_a_range():
    b = generate_bar_arrays(["X"], 500, MINUTE_NS).select("X")
    assert np.count_nonzero(b.high > b.low) > 400
    assert len(np.unique(b.close)) > 20


def test_bar_volume_is_higher_in_volatile_regimes():
    cfg = SyntheticConfig(seed=2, regime_vols=(0.2, 1.0), regime_durations_s=(7_200.0, 7_200.0),
                          volume_per_s=10.0, bar_substeps=1)
    b = generate_bar_arrays(["X"], 20_000, MINUTE_NS, cfg)
    calm_mean = 10.0 * 60
    assert np.mean(b.volume) > 1.5 * calm_mean


def test_generate_bars_returns_bar_messages_in_timestamp_order():
    msgs = generate_bars(["A", "B"], 10, MINUTE_NS, VOLATILE)
    assert len(msgs) == 20
    assert all(isinstance(m, Bar) for m in msgs)
    assert [m.ts_event for m in msgs] == sorted(m.ts_event for m in msgs)
    assert [m.symbol for m in msgs[:2]] == ["A", "B"]
    assert all(m.low <= min(m.open, m.close) <= max(m.open, m.close) <= m.high for m in msgs)


# --- arguments and configuration ---------------------------------------------------------

def test_zero_quotes_or_bars_give_empty_arrays():
    assert len(generate_quotes(["A", "B"], 0)) == 0
    assert len(generate_bar_arrays(["A"], 0, MINUTE_NS)) == 0


@pytest.mark.parametrize("call", [
    lambda: generate_quotes(["A"], -1),
    lambda: generate_quotes(["A"], 1.5),
    lambda: generate_quotes(["A", "A"], 10),
    lambda: generate_quotes([], 10),
    lambda: generate_quotes([3.0], 10),
    lambda: generate_bar_arrays(["A"], 10, 0),
    lambda: generate_bar_arrays(["A"], 10, 60.0),
    lambda: generate_quotes(["A"], 10).select("B"),
], ids=["negative-count", "float-count", "duplicate-symbols", "no-symbols", "not-instrument",
        "zero-interval", "float-interval", "unknown-symbol"])
def test_bad_arguments_raise_invalid_input(call):
    with pytest.raises(InvalidInput):
        call()


def test_default_config_is_valid_and_has_three_regimes():
    cfg = SyntheticConfig()
    assert len(cfg.regime_vols) == len(cfg.regime_durations_s) == 3


@pytest.mark.parametrize(("key", "value"), [
    ("seed", -1), ("seed", 1.5), ("seed", "7"), ("seed", True),
    ("start_ns", -5),
    ("initial_price", 0.0), ("initial_price", -1.0), ("initial_price", math.nan),
    ("initial_price", "100"),
    ("drift", math.inf),
    ("regime_vols", (0.2,)), ("regime_vols", (0.1, 0.2, 0.3, 0.4)), ("regime_vols", "0.2"),
    ("jumps_per_day", -1.0), ("jump_std", -0.01), ("jump_mean", math.nan),
    ("quote_interval_s", 0.0), ("quote_interval_s", 1e-12),
    ("spread_bps", 0.0), ("spread_vol_elasticity", -1.0), ("spread_noise", -0.1),
    ("min_spread_ticks", 0), ("min_spread_ticks", 1.0),
    ("quote_size", 0.0), ("quote_size_noise", -1.0),
    ("volume_per_s", 0.0), ("bar_substeps", 0),
    ("initial_regime", 3), ("initial_regime", -1),
    ("initial_prices", [("A", 1.0)]),
])
def test_invalid_config_value_raises_config_error_naming_the_key(key, value):
    kwargs = {key: value}
    if key == "regime_vols" and isinstance(value, tuple) and len(value) == 1:
        kwargs["regime_durations_s"] = (1.0,)
    with pytest.raises(ConfigError) as info:
        SyntheticConfig(**kwargs)
    assert info.value.key.startswith(key)
    assert key in str(info.value)


def test_each_regime_entry_is_validated_by_its_index():
    with pytest.raises(ConfigError) as info:
        SyntheticConfig(regime_vols=(0.2, math.nan, 0.4))
    assert info.value.key == "regime_vols[1]"
    with pytest.raises(ConfigError) as info:
        SyntheticConfig(regime_durations_s=(10.0, 10.0, -1.0))
    assert info.value.key == "regime_durations_s[2]"


def test_regime_vols_and_durations_must_have_the_same_length():
    with pytest.raises(ConfigError) as info:
        SyntheticConfig(regime_vols=(0.2, 0.5), regime_durations_s=(10.0, 10.0, 10.0))
    assert info.value.key == "regime_durations_s"


def test_initial_prices_are_validated_per_symbol():
    with pytest.raises(ConfigError) as info:
        SyntheticConfig(initial_prices={"BTC": -3.0})
    assert info.value.key == "initial_prices[BTC]"


def test_config_from_mapping_accepts_lists_and_rejects_unknown_keys_with_the_source():
    cfg = SyntheticConfig.from_mapping({"seed": 3, "regime_vols": [0.1, 0.2],
                                        "regime_durations_s": [60, 60]})
    assert cfg.regime_vols == (0.1, 0.2) and cfg.seed == 3
    with pytest.raises(ConfigError) as info:
        SyntheticConfig.from_mapping({"sede": 3}, source="demo.toml")
    assert info.value.key == "sede" and "demo.toml" in str(info.value)
    with pytest.raises(ConfigError) as info:
        SyntheticConfig.from_mapping({"jump_std": -1}, source="demo.toml")
    assert info.value.key == "jump_std" and info.value.source == "demo.toml"
