"""A real sweep over Ray (the session's local Ray, 2 CPUs) on the ORCL daily bars: every
result equals the in-process backtest of the same set, a bad set is recorded as failed
while the others finish, and a resume skips the sets already done."""

from __future__ import annotations

import pytest

from actors.backtest import BacktestConfig, run_backtest
from actors.backtest_data import load_data
from actors.sweep import Sweep, choose_path
from actors.sweep_grid import expand
from actors.sweep_run import SweepSpec
from data import store_sweeps
from data.store import Store
from tests.refdata import ORCL, refdata_path

pytestmark = [pytest.mark.integration, pytest.mark.refdata]

GRID = {"fast": [5, 10, 30], "slow": [10, 30, 60]}     # (10,10), (30,10), (30,30) fail


@pytest.fixture(scope="module")
def orcl():
    return load_data(refdata_path(ORCL), "yahoo")


@pytest.fixture(scope="module")
def executor(ray_session):
    from actors.sweep_ray import RayExecutor
    ex = RayExecutor()                  # joins the session's Ray; closes nothing of it
    assert ex.cpus == 2
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def reference(orcl):
    """run_backtest in this process for every valid set of the grid."""
    out = {}
    for i, params in enumerate(expand(GRID)):
        if params["fast"] < params["slow"]:
            out[i] = run_backtest(orcl, BacktestConfig(params=params))
    return out


def sweep_of(store, orcl, path):
    sets = expand(GRID)
    kind, settings, _ = choose_path(BacktestConfig(), orcl, sets, path)
    return Sweep(store, SweepSpec("sma_cross", BacktestConfig(), kind, settings), orcl, sets,
                 {"strategy": "sma_cross", "grid": GRID})


def paths():
    try:
        from strategies.fast import supports
        return ["event", "fast"] if supports("sma_cross") else ["event"]
    except ImportError:
        return ["event"]


@pytest.mark.parametrize("path", paths())
def test_ray_sweep_equals_in_process_backtests_and_records_the_bad_sets(
        tmp_path, orcl, executor, reference, path):
    with Store.open(tmp_path / "s.duckdb") as store:
        out = sweep_of(store, orcl, path).run(executor, batch=2)
    assert out.status == "finished" and out.path == path and out.batches == 5
    assert len(out.results) == 9
    failed = {r["set_index"] for r in out.results if r["status"] == "failed"}
    assert failed == {3, 6, 7}
    for r in out.results:
        if r["set_index"] in failed:
            assert "must be < slow" in r["error"]
            continue
        ref = reference[r["set_index"]]
        assert r["status"] == "ok"
        assert r["final_value"] == pytest.approx(ref.final_value, abs=1e-9)
        assert r["closed_trades"] == len(ref.trades)
        assert r["fills"] == len(ref.fills)


class StopAfter:
    """The Ray executor, interrupted (as by Ctrl-C) once `n` batches are in."""

    def __init__(self, inner, n: int) -> None:
        self.inner, self.n, self.cpus, self.ran = inner, n, inner.cpus, []

    def map(self, spec, data, work):
        for k, (batch, rows) in enumerate(self.inner.map(spec, data, work)):
            if k == self.n:
                raise KeyboardInterrupt
            self.ran += [i for i, _ in batch]
            yield batch, rows


def test_resume_over_ray_skips_the_sets_already_done(tmp_path, orcl, executor, reference):
    with Store.open(tmp_path / "s.duckdb") as store:
        first = StopAfter(executor, 2)
        with pytest.raises(KeyboardInterrupt):
            sweep_of(store, orcl, "event").run(first, batch=2)
        (sweep_id, status), = store.rows("SELECT sweep_id, status FROM sweeps")
        assert status == "interrupted"
        done = store_sweeps.finished_sets(store, sweep_id)
        assert done == set(first.ran) and len(done) == 4
        second = StopAfter(executor, 99)
        out = sweep_of(store, orcl, "event").run(second, resume=sweep_id, batch=2)
    assert sorted(second.ran) == sorted(set(range(9)) - done)
    assert out.status == "finished" and out.skipped == 4 and len(out.results) == 9
    for r in out.results:
        if r["status"] == "ok":
            assert r["final_value"] == pytest.approx(reference[r["set_index"]].final_value,
                                                     abs=1e-9)
