"""The `Strategy` base class and the guard (`StrategyHost`) that runs its callbacks.

A strategy is a small class: a config, `on_start` to build its indicators, `on_bar` (or
`on_tick`) to update them and `emit` signals. It never sees orders or accounts. The same
class runs in a backtest, in a unit test and inside an actor: whoever drives it wraps it
in a `StrategyHost`, which calls the callbacks, collects the emitted signals and turns an
exception into a `StrategyFailed` event. A failed strategy is stopped and never called
again; the exception never reaches the caller.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable
from typing import Generic, TypeVar

from engine.clock import Clock, LiveClock
from engine.enums import SignalSide
from engine.errors import InvalidInput
from engine.messages import Bar, OrderFilled, QuoteTick, Signal, StrategyFailed, TradeTick
from strategies.config import StrategyConfig

log = logging.getLogger(__name__)

C = TypeVar("C", bound=StrategyConfig)
T = TypeVar("T")


class PerSymbol(dict[str, T]):
    """A dict that builds a symbol's state on first access with `factory()`.

    Unlike `defaultdict(lambda: ...)` it pickles when `factory` is a module-level class or
    a `functools.partial` of one, so strategies can be shipped to actors.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        super().__init__()
        self.factory = factory

    def __missing__(self, symbol: str) -> T:
        value = self[symbol] = self.factory()
        return value


class Strategy(Generic[C]):
    """Base of every strategy. Override the callbacks you need; call `emit` to signal.

    `signal_id`s are f"{strategy_id}-{n}" with n = 1, 2, ... in emission order, so a replay
    of the same data produces the same ids. A signal's `ts_event` is the timestamp of the
    bar, tick or fill being handled (the clock's time in `on_start`/`on_stop`); its
    `ts_init` is read from `clock` (a `LiveClock` unless one is given).
    """

    def __init__(self, strategy_id: str, config: C, clock: Clock | None = None) -> None:
        if not isinstance(strategy_id, str) or not strategy_id:
            raise InvalidInput("strategy_id", strategy_id, "must be a non-empty string")
        if not isinstance(config, StrategyConfig):
            raise InvalidInput("config", config, "must be a StrategyConfig")
        self.strategy_id = strategy_id
        self.config = config
        self.clock: Clock = clock if clock is not None else LiveClock()
        self._seq = 0
        self._event_ns = 0
        self._outbox: list[Signal] = []

    # --- callbacks (override) ------------------------------------------------------------
    def on_start(self) -> None:
        """Build indicators and per-symbol state."""

    def on_bar(self, bar: Bar) -> None:
        """A completed bar."""

    def on_tick(self, tick: TradeTick | QuoteTick) -> None:
        """A trade or a quote."""

    def on_fill(self, fill: OrderFilled) -> None:
        """A fill of an order that came from one of this strategy's signals."""

    def on_stop(self) -> None:
        """Last call; release resources."""

    # --- output --------------------------------------------------------------------------
    def emit(self, symbol: str, side: SignalSide, *, confidence: float = 1.0,
             stop_loss: float | None = None, take_profit: float | None = None,
             tag: str = "") -> Signal:
        """Queue a signal for `symbol`; the host returns it from the current call."""
        if not isinstance(side, SignalSide):
            raise InvalidInput("side", side, "must be a SignalSide")
        if not (isinstance(confidence, (int, float)) and 0.0 <= confidence <= 1.0):
            raise InvalidInput("confidence", confidence, "must be a number in [0, 1]")
        if stop_loss is not None or take_profit is not None:
            for name, price in (("stop_loss", stop_loss), ("take_profit", take_profit)):
                if price is not None and not (isinstance(price, (int, float))
                                              and math.isfinite(price) and price > 0):
                    raise InvalidInput(name, price, "must be a finite price > 0 or None")
        self._seq += 1
        signal = Signal(
            signal_id=f"{self.strategy_id}-{self._seq}",
            strategy_id=self.strategy_id,
            symbol=symbol,
            side=side,
            ts_event=self._event_ns,
            ts_init=self.clock.now_ns(),
            confidence=float(confidence),
            stop_loss=stop_loss,
            take_profit=take_profit,
            tag=tag,
        )
        self._outbox.append(signal)
        return signal

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.strategy_id!r}, {self.config!r})"


class HostState(enum.Enum):
    READY = "READY"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


_RUNNING = HostState.RUNNING


class StrategyHost:
    """The guard: runs one strategy's callbacks and returns the signals each one emitted.

    If a callback raises, the signals of that call are dropped, a `StrategyFailed` is
    recorded in `failure` (and passed to `on_failure`), the strategy is marked FAILED and
    every later call returns [] without touching it. Data before `start()` starts it.
    """

    def __init__(self, strategy: Strategy,
                 on_failure: Callable[[StrategyFailed], None] | None = None) -> None:
        self.strategy = strategy
        self.on_failure = on_failure
        self.state = HostState.READY
        self.failure: StrategyFailed | None = None

    @property
    def strategy_id(self) -> str:
        return self.strategy.strategy_id

    @property
    def running(self) -> bool:
        return self.state is HostState.RUNNING

    def start(self) -> list[Signal]:
        if self.state is not HostState.READY:
            return []
        self.state = HostState.RUNNING
        return self._call("on_start", self.strategy.clock.now_ns(), None)

    def bar(self, bar: Bar) -> list[Signal]:
        """`_call("on_bar", ...)` written out: this runs once per bar per strategy."""
        if self.state is not _RUNNING:
            return self._data("on_bar", bar.ts_event, bar)
        strategy = self.strategy
        strategy._event_ns = bar.ts_event
        if strategy._outbox:                  # emitted outside a call: not this call's
            strategy._outbox = []
        try:
            strategy.on_bar(bar)
        except Exception as exc:  # the guard: nothing a strategy raises may escape
            strategy._outbox = []
            self._fail("on_bar", bar.ts_event, exc)
            return []
        signals = strategy._outbox
        if signals:
            strategy._outbox = []
            return signals
        return []                             # a new list: callers may keep it

    def tick(self, tick: TradeTick | QuoteTick) -> list[Signal]:
        return self._data("on_tick", tick.ts_event, tick)

    def fill(self, fill: OrderFilled) -> list[Signal]:
        return self._data("on_fill", fill.ts_event, fill)

    def stop(self) -> list[Signal]:
        if self.state is not HostState.RUNNING:
            return []
        signals = self._call("on_stop", self.strategy.clock.now_ns(), None)
        if self.state is HostState.RUNNING:
            self.state = HostState.STOPPED
        return signals

    def _data(self, callback: str, ts_event: int, arg: object) -> list[Signal]:
        if self.state is HostState.READY:
            started = self.start()
            return started + self._data(callback, ts_event, arg) if self.running else started
        if self.state is not HostState.RUNNING:
            return []
        return self._call(callback, ts_event, arg)

    def _call(self, callback: str, ts_event: int, arg: object) -> list[Signal]:
        strategy = self.strategy
        strategy._event_ns = ts_event
        strategy._outbox = []
        try:
            if arg is None:
                getattr(strategy, callback)()
            else:
                getattr(strategy, callback)(arg)
        except Exception as exc:  # the guard: nothing a strategy raises may escape
            self._fail(callback, ts_event, exc)
            return []
        finally:
            signals, strategy._outbox = strategy._outbox, []
        return signals

    def _fail(self, callback: str, ts_event: int, exc: Exception) -> None:
        self.state = HostState.FAILED
        self.failure = StrategyFailed(
            strategy_id=self.strategy_id,
            callback=callback,
            error=f"{type(exc).__name__}: {exc}",
            ts_event=ts_event,
            ts_init=self.strategy.clock.now_ns(),
        )
        log.error("strategy %s failed in %s; stopped", self.strategy_id, callback,
                  exc_info=exc)
        if self.on_failure is not None:
            try:
                self.on_failure(self.failure)
            except Exception:  # a faulty listener must not undo the guard either
                log.exception("on_failure listener of %s raised", self.strategy_id)


def guarded(strategy: Strategy,
            on_failure: Callable[[StrategyFailed], None] | None = None) -> StrategyHost:
    """`strategy` wrapped in the guard."""
    return StrategyHost(strategy, on_failure)
