"""The guard (StrategyHost) and the Strategy base class: dispatch, emit, failure isolation."""

from __future__ import annotations

import pickle

import pytest

from engine.clock import SimClock
from engine.enums import OrderSide
from engine.messages import OrderFilled, QuoteTick, Signal, StrategyFailed, TradeTick
from strategies.base import HostState, Strategy, StrategyHost, guarded
from strategies.config import SmaCrossConfig, StrategyConfig
from strategies.sma_cross import SmaCross
from tests.unit.strategies.support import FLAT, LONG, SHORT, make_bars, run


class Recorder(Strategy[StrategyConfig]):
    """Emits one LONG per bar and records every callback; raises where told to."""

    def __init__(self, raise_in: str = "", raise_at_bar: int = -1) -> None:
        super().__init__("rec", StrategyConfig(), SimClock(100))
        self.raise_in, self.raise_at_bar = raise_in, raise_at_bar
        self.calls: list[str] = []

    def _maybe_raise(self, callback: str) -> None:
        if self.raise_in == callback:
            raise RuntimeError(f"boom in {callback}")

    def on_start(self) -> None:
        self.calls.append("on_start")
        self._maybe_raise("on_start")

    def on_bar(self, bar) -> None:
        self.calls.append("on_bar")
        self.emit(bar.symbol, LONG)
        if len([c for c in self.calls if c == "on_bar"]) - 1 == self.raise_at_bar:
            raise ValueError("bad bar")

    def on_tick(self, tick) -> None:
        self.calls.append(type(tick).__name__)
        self.emit(tick.symbol, SHORT, confidence=0.25)

    def on_fill(self, fill) -> None:
        self.calls.append("on_fill")
        self.emit(fill.symbol, FLAT, tag="after-fill")

    def on_stop(self) -> None:
        self.calls.append("on_stop")
        self._maybe_raise("on_stop")


def _fill(ts: int) -> OrderFilled:
    return OrderFilled("acc", "c-1", "v-1", "t-1", "TEST", OrderSide.BUY, 1.0, 10.0, 0.0, ts, ts)


# --- dispatch and signals -----------------------------------------------------------------

def test_each_callback_returns_the_signals_it_emitted_stamped_with_the_event_time():
    strategy = Recorder()
    host = guarded(strategy)
    [bar] = make_bars([10.0])

    assert host.start() == []
    [on_bar] = host.bar(bar)
    [on_trade] = host.tick(TradeTick("TEST", 10.0, 1.0, 5, 6))
    [on_quote] = host.tick(QuoteTick("TEST", 9.9, 10.1, 1.0, 1.0, 7, 8))
    [on_fill] = host.fill(_fill(9))
    assert host.stop() == []

    assert strategy.calls == ["on_start", "on_bar", "TradeTick", "QuoteTick", "on_fill",
                              "on_stop"]
    assert [(s.side, s.ts_event, s.ts_init) for s in (on_bar, on_trade, on_quote, on_fill)] == [
        (LONG, bar.ts_event, 100), (SHORT, 5, 100), (SHORT, 7, 100), (FLAT, 9, 100)]
    assert on_trade.confidence == 0.25 and on_fill.tag == "after-fill"
    assert host.state is HostState.STOPPED


def test_signal_ids_are_strategy_id_and_a_sequence_number_and_replays_repeat_them():
    def ids() -> list[str]:
        strategy = SmaCross("cross", SmaCrossConfig(fast=2, slow=3), SimClock())
        return [s.signal_id for _, s in run(strategy, make_bars([5, 4, 3, 6, 2, 7, 1]))]

    first = ids()
    assert first == ["cross-1", "cross-2", "cross-3"]
    assert ids() == first


def test_data_before_start_starts_the_strategy_first():
    strategy = Recorder()
    host = StrategyHost(strategy)
    host.bar(make_bars([1.0])[0])
    assert strategy.calls == ["on_start", "on_bar"]
    assert host.running


def test_a_stopped_strategy_is_not_called_again():
    strategy = Recorder()
    host = guarded(strategy)
    host.start()
    host.stop()

    assert host.bar(make_bars([1.0])[0]) == []
    assert host.stop() == []
    assert strategy.calls == ["on_start", "on_stop"]


def test_a_strategy_pickles_mid_run_and_resumes_with_the_same_signals():
    bars = make_bars([5, 4, 3, 6, 2, 7, 1, 8, 0.5, 9])
    whole = [s for _, s in run(SmaCross("x", SmaCrossConfig(fast=2, slow=3), SimClock()), bars)]

    host = guarded(SmaCross("x", SmaCrossConfig(fast=2, slow=3), SimClock()))
    first = [s for bar in bars[:5] for s in host.bar(bar)]
    revived = pickle.loads(pickle.dumps(host))
    rest = [s for bar in bars[5:] for s in revived.bar(bar)]

    assert first + rest == whole


# --- the guard ----------------------------------------------------------------------------

def test_strategy_raising_in_on_bar_yields_strategy_failed_is_stopped_and_ignores_later_bars():
    strategy = Recorder(raise_at_bar=2)
    seen: list[StrategyFailed] = []
    host = guarded(strategy, on_failure=seen.append)
    bars = make_bars([1.0, 2.0, 3.0, 4.0, 5.0])

    results = [host.bar(bar) for bar in bars]

    assert [len(r) for r in results] == [1, 1, 0, 0, 0]   # the failing call's signal is dropped
    assert host.state is HostState.FAILED and not host.running
    assert host.failure == StrategyFailed("rec", "on_bar", "ValueError: bad bar",
                                          bars[2].ts_event, 100)
    assert seen == [host.failure]
    assert strategy.calls.count("on_bar") == 3
    assert host.stop() == [] and "on_stop" not in strategy.calls


def test_strategy_raising_in_on_start_never_receives_data():
    strategy = Recorder(raise_in="on_start")
    host = guarded(strategy)

    assert host.start() == []
    assert host.bar(make_bars([1.0])[0]) == []
    assert host.failure is not None and host.failure.callback == "on_start"
    assert host.failure.error == "RuntimeError: boom in on_start"
    assert strategy.calls == ["on_start"]


def test_strategy_raising_in_on_stop_is_recorded_as_failed():
    host = guarded(Recorder(raise_in="on_stop"))
    host.start()
    host.stop()
    assert host.state is HostState.FAILED and host.failure.callback == "on_stop"


def test_an_invalid_signal_is_a_failure_of_the_strategy_not_of_the_caller():
    class Overconfident(Strategy[StrategyConfig]):
        def on_bar(self, bar) -> None:
            self.emit(bar.symbol, LONG, confidence=1.5)

    host = guarded(Overconfident("bad", StrategyConfig(), SimClock()))
    assert host.bar(make_bars([1.0])[0]) == []
    assert "confidence" in host.failure.error


def test_a_raising_failure_listener_does_not_escape_the_guard():
    def listener(_: StrategyFailed) -> None:
        raise RuntimeError("listener bug")

    host = guarded(Recorder(raise_at_bar=0), on_failure=listener)
    assert host.bar(make_bars([1.0])[0]) == []
    assert host.state is HostState.FAILED


def test_emit_rejects_bad_protective_prices_and_sides():
    class Emitter(Strategy[StrategyConfig]):
        def __init__(self, **kwargs) -> None:
            super().__init__("e", StrategyConfig(), SimClock())
            self.kwargs = kwargs

        def on_bar(self, bar) -> None:
            self.emit(bar.symbol, **self.kwargs)

    bar = make_bars([1.0])[0]
    for kwargs in ({"side": "LONG"}, {"side": LONG, "stop_loss": -1.0},
                   {"side": LONG, "take_profit": float("nan")}):
        host = guarded(Emitter(**kwargs))
        assert host.bar(bar) == [] and host.failure is not None, kwargs
    [ok] = guarded(Emitter(side=LONG, stop_loss=0.9, take_profit=1.2)).bar(bar)
    assert isinstance(ok, Signal) and (ok.stop_loss, ok.take_profit) == (0.9, 1.2)


def test_strategy_needs_a_non_empty_id_and_a_config():
    with pytest.raises(ValueError, match="strategy_id"):
        SmaCross("", SmaCrossConfig())
    with pytest.raises(ValueError, match="config"):
        SmaCross("x", {"fast": 10})
