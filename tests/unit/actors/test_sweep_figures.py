"""The sweep's figures of a fast-path set (rebuilt from its fills by actors.sweep_run) and
the fast kernel's own figures (strategies.fast.FastResult) are two computations of the
same numbers: they must agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actors.backtest import BacktestConfig
from actors.backtest_data import load_data
from actors.sweep_run import SweepSpec, _fast_rows
from strategies.config import config_from_params
from strategies.fast import FastSettings, run_grid
from strategies.registry import lookup

ORCL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "orcl-1995-2014.txt"
SETS = {"sma_cross": [{"fast": f, "slow": s} for f, s in ((5, 20), (10, 30), (20, 60))],
        "breakout": [{"window": e, "exit_window": x} for e, x in ((20, 10), (55, 20))]}
SETTINGS = (FastSettings(), FastSettings(fill="close", fee_bps=10.0),
            FastSettings(sizing="fixed", quantity=100.0, qty_step=1.0, cash=1e6))


@pytest.mark.parametrize("settings", SETTINGS, ids=["all-in", "close-fees", "fixed"])
@pytest.mark.parametrize("strategy", sorted(SETS))
def test_sweep_rows_equal_the_kernel_figures(strategy, settings):
    bars = load_data(ORCL, "yahoo", "ORCL")
    _, config_cls = lookup(strategy)
    sets = SETS[strategy]
    configs = [config_from_params(config_cls, p, source="test") for p in sets]
    spec = SweepSpec(strategy, BacktestConfig(strategy=strategy, cash=settings.cash),
                     "fast", settings)
    rows = _fast_rows(spec, bars, [(k, p, c) for k, (p, c) in
                                   enumerate(zip(sets, configs, strict=True))])
    kernel = run_grid(strategy, bars.columns(), configs, settings)
    assert int(kernel.closed_trades.sum()) > 0
    for k in range(len(sets)):
        row = rows[k]
        assert (row["wins"], row["losses"]) == (kernel.wins[k], kernel.losses[k])
        for name in ("gross_profit", "gross_loss", "fees", "max_drawdown", "exposure"):
            assert row[name] == pytest.approx(float(getattr(kernel, name)[k]),
                                              rel=1e-9, abs=1e-9), name
        assert np.isclose(row["final_value"], kernel.final_value[k], rtol=0, atol=0)
