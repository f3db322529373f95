"""The strategy registry: names to (strategy class, config class)."""

from __future__ import annotations

import pytest

from engine.clock import SimClock
from engine.errors import InvalidInput, UnknownName
from strategies import registry
from strategies.base import Strategy
from strategies.config import SmaCrossConfig, StrategyConfig
from strategies.registry import STRATEGIES, create_strategy, lookup, register, strategy_names
from strategies.sma_cross import SmaCross


def test_the_five_built_ins_are_registered():
    assert strategy_names() == ["breakout", "combiner", "mean_reversion", "sma_cross",
                                "sma_trend"]


@pytest.mark.parametrize("name", ["breakout", "mean_reversion", "sma_cross", "sma_trend"])
def test_every_built_in_builds_from_its_defaults(name):
    strategy_cls, config_cls = lookup(name)
    strategy = create_strategy(name, f"id-{name}", {})
    assert type(strategy) is strategy_cls and strategy.config == config_cls()
    assert strategy.strategy_id == f"id-{name}"


def test_create_strategy_accepts_params_or_a_ready_config():
    clock = SimClock(5)
    from_params = create_strategy("sma_cross", "a", {"fast": "3", "slow": "9"}, clock=clock)
    from_config = create_strategy("sma_cross", "b", SmaCrossConfig(fast=3, slow=9))
    assert from_params.config == from_config.config and from_params.clock is clock
    with pytest.raises(InvalidInput):
        create_strategy("sma_trend", "c", SmaCrossConfig())


def test_unknown_name_raises_unknown_name_listing_the_known_names():
    with pytest.raises(UnknownName) as err:
        create_strategy("sma_crossover", "x", {})
    assert err.value.name == "sma_crossover"
    assert set(err.value.known) == set(strategy_names())
    assert "sma_cross" in str(err.value) and "breakout" in str(err.value)


def test_register_adds_a_user_strategy_and_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "STRATEGIES", dict(STRATEGIES))
    register("noop", Strategy, StrategyConfig)
    assert "noop" in strategy_names()
    assert isinstance(create_strategy("noop", "n"), Strategy)
    with pytest.raises(InvalidInput, match="already registered"):
        register("sma_cross", SmaCross, SmaCrossConfig)
