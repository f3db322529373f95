"""Weighted vote of child strategies.

Each child runs in its own guard. Its latest signal per symbol votes +1 (LONG), -1 (SHORT)
or 0 (FLAT) times its weight; score = sum of votes / total weight of the live children.
The combiner targets LONG when score >= threshold, SHORT when score <= -threshold (if
`allow_short`), else FLAT, and emits only on changes (initial state FLAT) with
confidence |score|. Decisions use exact fractions of the weights. A child that fails is
recorded in `child_failures`, loses its vote and its weight, and the rest carry on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

from engine.clock import Clock
from engine.enums import SignalSide
from engine.errors import ConfigError, InvalidInput
from engine.messages import Bar, OrderFilled, QuoteTick, Signal, StrategyFailed, TradeTick
from strategies.base import Strategy, StrategyHost
from strategies.config import CombinerConfig

_VOTE = {SignalSide.LONG: 1, SignalSide.SHORT: -1, SignalSide.FLAT: 0}


class Combiner(Strategy[CombinerConfig]):
    """Emit what a weighted majority of the children want, once it is decisive enough.

    `children` (strategy, weight) pairs may be given directly (then `config.children`
    is not used); otherwise they are built from `config.children` through the registry,
    with ids f"{strategy_id}.{i}.{name}".
    """

    def __init__(self, strategy_id: str, config: CombinerConfig, clock: Clock | None = None,
                 children: Sequence[tuple[Strategy, float]] | None = None) -> None:
        super().__init__(strategy_id, config, clock)
        if children is None:
            children = _build_children(strategy_id, config, self.clock)
        for i, (_, weight) in enumerate(children):
            if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
                raise InvalidInput(f"children[{i}].weight", weight, "must be a finite number > 0")
        self.children = [StrategyHost(child, self._child_failed) for child, _ in children]
        self.weights = [Fraction(weight) for _, weight in children]
        self.child_failures: list[StrategyFailed] = []
        self._votes: dict[str, list[int]] = {}
        self._side: dict[str, SignalSide] = {}
        self._weights_changed = False

    def on_start(self) -> None:
        self._collect([host.start() for host in self.children])

    def on_bar(self, bar: Bar) -> None:
        self._collect([host.bar(bar) for host in self.children])

    def on_tick(self, tick: TradeTick | QuoteTick) -> None:
        self._collect([host.tick(tick) for host in self.children])

    def on_fill(self, fill: OrderFilled) -> None:
        self._collect([host.fill(fill) for host in self.children])

    def on_stop(self) -> None:
        self._collect([host.stop() for host in self.children])

    def _collect(self, per_child: list[list[Signal]]) -> None:
        """Record each child's latest vote, then re-decide the symbols that changed."""
        changed = dict.fromkeys(self._votes) if self._weights_changed else {}
        self._weights_changed = False
        for i, signals in enumerate(per_child):
            for signal in signals:
                votes = self._votes.setdefault(signal.symbol, [0] * len(self.children))
                votes[i] = _VOTE[signal.side]
                changed[signal.symbol] = None
        for symbol in changed:
            self._decide(symbol)

    def _decide(self, symbol: str) -> None:
        live = [i for i, host in enumerate(self.children) if host.failure is None]
        total = sum((self.weights[i] for i in live), Fraction(0))
        votes = self._votes.get(symbol, [])
        score = (sum((self.weights[i] * votes[i] for i in live), Fraction(0)) / total
                 if total and votes else Fraction(0))
        threshold = Fraction(self.config.threshold)
        if score >= threshold:
            target = SignalSide.LONG
        elif score <= -threshold and self.config.allow_short:
            target = SignalSide.SHORT
        else:
            target = SignalSide.FLAT
        if target is not self._side.get(symbol, SignalSide.FLAT):
            self._side[symbol] = target
            self.emit(symbol, target, confidence=float(abs(score)),
                      tag=f"score={float(score):.3f}")

    def _child_failed(self, failure: StrategyFailed) -> None:
        self.child_failures.append(failure)
        self._weights_changed = True   # every symbol is re-decided without this child


def _build_children(strategy_id: str, config: CombinerConfig,
                    clock: Clock) -> list[tuple[Strategy, float]]:
    from strategies.registry import create_strategy  # the registry imports this module

    children = []
    for i, spec in enumerate(config.children):
        try:
            child = create_strategy(spec.name, f"{strategy_id}.{i}.{spec.name}",
                                    spec.param_dict, clock=clock)
        except ConfigError as exc:
            raise ConfigError(f"children[{i}].{exc.key}", exc.reason) from None
        children.append((child, spec.weight))
    return children
