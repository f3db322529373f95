"""Trading strategies: small classes that turn bars and ticks into signals.

`Strategy` is the base class, `StrategyHost` (or `guarded(strategy)`) the guard that runs
it, and `create_strategy(name, strategy_id, params)` builds a registered one by name.
"""

from strategies.base import Strategy, StrategyHost, guarded
from strategies.registry import create_strategy, strategy_names

__all__ = ["Strategy", "StrategyHost", "create_strategy", "guarded", "strategy_names"]
