"""combiner: weighted vote of guarded children, threshold, change-only output, isolation."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from engine.clock import SimClock
from engine.enums import SignalSide
from engine.errors import ConfigError, UnknownName
from strategies.base import Strategy, guarded
from strategies.combiner import Combiner
from strategies.config import ChildSpec, CombinerConfig, StrategyConfig
from strategies.registry import create_strategy
from tests.unit.strategies.support import FLAT, LONG, SHORT, make_bars, run, run_named
from tests.unit.strategies.test_breakout import reference_breakout
from tests.unit.strategies.test_sma_cross import reference_sma_cross
from tests.unit.strategies.test_sma_trend import reference_sma_trend


class Scripted(Strategy[StrategyConfig]):
    """Emits script[i] on bar i; raises on bar `fail_at`."""

    def __init__(self, sid: str, script: dict[int, SignalSide], fail_at: int = -1) -> None:
        super().__init__(sid, StrategyConfig(), SimClock())
        self.script, self.fail_at, self.bars = script, fail_at, 0

    def on_bar(self, bar) -> None:
        i, self.bars = self.bars, self.bars + 1
        if i == self.fail_at:
            raise RuntimeError("child bug")
        if i in self.script:
            self.emit(bar.symbol, self.script[i])


def combine(children, threshold=0.5, allow_short=False, n_bars=6):
    dummy = (ChildSpec("scripted"),)
    combiner = Combiner("combo", CombinerConfig(dummy, threshold, allow_short), SimClock(),
                        children=children)
    signals = run(combiner, make_bars([1.0] * n_bars))
    return combiner, [(i, s.side, s.confidence) for i, s in signals]


def reference_combiner(child_signals, weights, n_bars, threshold, allow_short):
    """Replay each child's (bar, side) list; vote with exact fractions after every bar."""
    vote = {LONG: 1, SHORT: -1, FLAT: 0}
    latest, out, side = [0] * len(weights), [], FLAT
    total = sum(Fraction(w) for w in weights)
    by_bar: dict[int, list[tuple[int, SignalSide]]] = {}
    for child, signals in enumerate(child_signals):
        for bar, s in signals:
            by_bar.setdefault(bar, []).append((child, s))
    for bar in range(n_bars):
        if bar not in by_bar:
            continue
        for child, s in by_bar[bar]:
            latest[child] = vote[s]
        score = sum(Fraction(w) * v for w, v in zip(weights, latest, strict=True)) / total
        target = (LONG if score >= Fraction(threshold) else
                  SHORT if allow_short and score <= -Fraction(threshold) else FLAT)
        if target is not side:
            out.append((bar, target))
            side = target
    return out


@pytest.mark.refdata
@pytest.mark.parametrize(("threshold", "allow_short"), [(0.5, False), (0.3, True), (1.0, True)])
def test_orcl_combined_signals_match_a_vote_over_the_reference_children(
        orcl_bars, orcl_arrays, threshold, allow_short):
    a = orcl_arrays
    weights = [2.0, 1.0, 1.5]
    children = (
        "sma_cross:fast=10,slow=30,allow_short=true,weight=2;"
        "sma_trend:period=50,weight=1;"
        "breakout:window=20,exit_window=10,allow_short=true,weight=1.5")
    expected = reference_combiner(
        [reference_sma_cross(a["close"], 10, 30, True), reference_sma_trend(a["close"], 50),
         reference_breakout(a["close"], a["high"], a["low"], 20, 10, True)],
        weights, len(orcl_bars), threshold, allow_short)

    got = run_named("combiner", orcl_bars, children=children, threshold=threshold,
                    allow_short=allow_short)

    assert got == expected
    assert len(got) > 10


def test_score_at_exactly_the_threshold_goes_long_and_confidence_is_the_score():
    children = [(Scripted("a", {1: LONG}), 1.0), (Scripted("b", {}), 1.0)]
    _, signals = combine(children, threshold=0.5)
    assert signals == [(1, LONG, 0.5)]


def test_emits_only_when_the_combined_side_changes():
    children = [(Scripted("a", {0: LONG, 2: LONG, 4: FLAT}), 3.0),
                (Scripted("b", {1: LONG, 3: SHORT}), 1.0)]
    _, signals = combine(children, threshold=0.5, allow_short=True)
    # scores: 0.75, 1.0, 1.0, 0.5, -0.25
    assert signals == [(0, LONG, 0.75), (4, FLAT, 0.25)]


def test_negative_score_is_short_only_when_allowed():
    def children():
        return [(Scripted("a", {0: SHORT}), 1.0), (Scripted("b", {1: SHORT}), 1.0)]

    assert combine(children(), threshold=1.0)[1] == []
    assert combine(children(), threshold=1.0, allow_short=True)[1] == [(1, SHORT, 1.0)]


def test_a_failing_child_is_isolated_loses_its_vote_and_the_combiner_keeps_working():
    children = [(Scripted("a", {0: LONG}), 1.0),
                (Scripted("bad", {0: LONG}, fail_at=2), 2.0),
                (Scripted("c", {3: SHORT, 4: LONG}), 1.0)]
    combiner, signals = combine(children, threshold=0.75, allow_short=True)

    # bar 0: (1 + 2) / 4 = 0.75 -> LONG; bar 2: "bad" fails, score 1 / 2 -> FLAT;
    # bar 3: (1 - 1) / 2 = 0; bar 4: (1 + 1) / 2 = 1 -> LONG
    assert signals == [(0, LONG, 0.75), (2, FLAT, 0.5), (4, LONG, 1.0)]
    [failure] = combiner.child_failures
    assert (failure.strategy_id, failure.callback, failure.error) == (
        "bad", "on_bar", "RuntimeError: child bug")
    assert combiner.children[1].failure == failure


def test_the_combiner_itself_does_not_fail_when_a_child_does():
    children = [(Scripted("a", {}, fail_at=0), 1.0)]
    host = guarded(Combiner("combo", CombinerConfig((ChildSpec("x"),)), SimClock(), children))
    for bar in make_bars([1.0, 2.0]):
        assert host.bar(bar) == []
    assert host.failure is None and host.running


def test_children_built_from_config_get_derived_ids_and_the_combiner_clock():
    clock = SimClock(42)
    combiner = create_strategy("combiner", "combo",
                               {"children": "sma_cross:fast=2,slow=4; sma_trend:period=3"},
                               clock=clock)
    assert [h.strategy_id for h in combiner.children] == ["combo.0.sma_cross",
                                                          "combo.1.sma_trend"]
    assert all(h.strategy.clock is clock for h in combiner.children)
    assert combiner.weights == [1, 1]


def test_a_bad_child_parameter_is_a_config_error_naming_the_child_and_key():
    with pytest.raises(ConfigError) as err:
        create_strategy("combiner", "combo", {"children": "sma_cross:fast=40,slow=30"})
    assert err.value.key == "children[0].fast"


def test_an_unknown_child_strategy_names_the_known_ones():
    with pytest.raises(UnknownName, match="sma_cross"):
        create_strategy("combiner", "combo", {"children": "sma_crosss"})


def test_combiner_signals_follow_the_child_ts():
    combiner = create_strategy("combiner", "combo", {"children": "sma_trend:period=2"},
                               clock=SimClock())
    bars = make_bars(list(np.linspace(1, 5, 5)))
    [(i, signal)] = run(combiner, bars)
    assert (i, signal.ts_event, signal.signal_id) == (1, bars[1].ts_event, "combo-1")


def test_directly_given_children_need_positive_weights():
    with pytest.raises(ValueError, match="children\\[0\\].weight"):
        Combiner("combo", CombinerConfig((ChildSpec("x"),)), SimClock(),
                 children=[(Scripted("a", {}), -1.0)])
