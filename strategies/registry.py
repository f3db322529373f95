"""Strategies by name: name -> (strategy class, config class), and `create_strategy`."""

from __future__ import annotations

from collections.abc import Mapping

from engine.clock import Clock
from engine.errors import InvalidInput, UnknownName
from strategies.base import Strategy
from strategies.breakout import Breakout
from strategies.combiner import Combiner
from strategies.config import (
    BreakoutConfig,
    CombinerConfig,
    MeanReversionConfig,
    SmaCrossConfig,
    SmaTrendConfig,
    StrategyConfig,
    config_from_params,
)
from strategies.mean_reversion import MeanReversion
from strategies.sma_cross import SmaCross
from strategies.sma_trend import SmaTrend

STRATEGIES: dict[str, tuple[type[Strategy], type[StrategyConfig]]] = {
    "sma_cross": (SmaCross, SmaCrossConfig),
    "sma_trend": (SmaTrend, SmaTrendConfig),
    "mean_reversion": (MeanReversion, MeanReversionConfig),
    "breakout": (Breakout, BreakoutConfig),
    "combiner": (Combiner, CombinerConfig),
}


def strategy_names() -> list[str]:
    return sorted(STRATEGIES)


def lookup(name: str) -> tuple[type[Strategy], type[StrategyConfig]]:
    """(strategy class, config class) registered as `name`; UnknownName lists the known."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise UnknownName("strategy", str(name), strategy_names()) from None


def register(name: str, strategy_cls: type[Strategy], config_cls: type[StrategyConfig]) -> None:
    """Add a strategy under `name` (for user strategies and tests)."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("name", name, "must be a non-empty string")
    if name in STRATEGIES:
        raise InvalidInput("name", name, "is already registered")
    if not (issubclass(strategy_cls, Strategy) and issubclass(config_cls, StrategyConfig)):
        raise InvalidInput("strategy_cls", strategy_cls, "must subclass Strategy")
    STRATEGIES[name] = (strategy_cls, config_cls)


def create_strategy(name: str, strategy_id: str,
                    params: Mapping[str, object] | StrategyConfig | None = None,
                    *, clock: Clock | None = None) -> Strategy:
    """A new strategy `name` with id `strategy_id`, configured from `params`.

    `params` is a loose mapping (CLI `--param fast=10` gives {"fast": "10"}) checked by
    `config_from_params`, or a ready config of the right class. Raises UnknownName for an
    unknown name and ConfigError naming the key for a bad parameter.
    """
    strategy_cls, config_cls = lookup(name)
    if isinstance(params, StrategyConfig):
        if not isinstance(params, config_cls):
            raise InvalidInput("params", params, f"must be a {config_cls.__name__}")
        config = params
    else:
        config = config_from_params(config_cls, params, source=f"strategy {name}")
    return strategy_cls(strategy_id, config, clock)
