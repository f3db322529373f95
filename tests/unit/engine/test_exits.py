import math

import pytest

from engine.enums import ExitReason
from engine.errors import ConfigError
from engine.exits import ExitConfig, PlainExitPolicy, Protection

SEC = 1_000_000_000
policy = PlainExitPolicy()


def protect(direction=1, entry=100.0, **cfg):
    return Protection.for_position("X", direction, entry, 0, ExitConfig(**cfg))


def run(p, prices, start_ns=0, step_ns=SEC):
    out = []
    for i, px in enumerate(prices):
        out.append(policy.evaluate([p], [px], start_ns + i * step_ns)[0])
    return out


def test_long_stop_loss_fires_at_or_below_the_stop():
    p = protect(stop_loss_pct=2.0)
    assert p.stop == pytest.approx(98.0)
    assert run(p, [99.0, 98.5, 98.0]) == [ExitReason.NONE, ExitReason.NONE,
                                          ExitReason.STOP_LOSS]


def test_short_take_profit_fires_below_entry():
    p = protect(direction=-1, take_profit_pct=5.0)
    assert p.take == pytest.approx(95.0)
    assert run(p, [97.0, 95.0]) == [ExitReason.NONE, ExitReason.TAKE_PROFIT]


def test_trailing_stop_follows_the_high_and_never_loosens():
    p = protect(trailing_pct=10.0)
    stops = []
    for px in [100.0, 110.0, 105.0, 120.0, 115.0]:
        assert policy.evaluate([p], [px], 0) == [ExitReason.NONE]
        stops.append(p.trail_stop)
    assert stops == pytest.approx([90.0, 99.0, 99.0, 108.0, 108.0])
    assert all(b >= a for a, b in zip(stops, stops[1:], strict=False))
    assert policy.evaluate([p], [108.0], 0) == [ExitReason.TRAILING_STOP]


def test_short_trailing_stop_follows_the_low():
    p = protect(direction=-1, trailing_pct=10.0)
    policy.evaluate([p], [80.0], 0)
    assert p.trail_stop == pytest.approx(88.0)
    assert policy.evaluate([p], [88.0], 0) == [ExitReason.TRAILING_STOP]


def test_max_holding_time_fires_at_the_deadline():
    p = protect(max_holding_s=3.0)
    assert run(p, [100.0] * 4) == [ExitReason.NONE] * 3 + [ExitReason.MAX_HOLDING_TIME]


def test_a_signal_stop_overrides_the_configured_percent():
    p = Protection.for_position("X", 1, 100.0, 0, ExitConfig(stop_loss_pct=2.0), stop=90.0)
    assert p.stop == 90.0


@pytest.mark.parametrize("price", [math.nan, math.inf, -1.0, 0.0])
def test_a_bad_price_never_triggers_or_moves_the_trail(price):
    p = protect(stop_loss_pct=1.0, trailing_pct=5.0)
    before = p.trail_stop
    assert policy.evaluate([p], [price], 0) == [ExitReason.NONE]
    assert p.trail_stop == before


def test_stop_loss_wins_over_take_profit_when_both_would_fire():
    p = Protection.for_position("X", 1, 100.0, 0, ExitConfig(), stop=101.0, take=99.0)
    assert policy.evaluate([p], [100.0], 0) == [ExitReason.STOP_LOSS]


@pytest.mark.parametrize("kwargs, key", [
    ({"stop_loss_pct": -1.0}, "exits.stop_loss_pct"),
    ({"trailing_pct": 100.0}, "exits.trailing_pct"),
    ({"max_holding_s": math.nan}, "exits.max_holding_s"),
    ({"take_profit_pct": "5"}, "exits.take_profit_pct"),
])
def test_bad_exit_config_names_the_key(kwargs, key):
    with pytest.raises(ConfigError) as err:
        ExitConfig(**kwargs)
    assert err.value.key == key
