"""`phalanx sweep` without Ray: grids, batches, the batch function run in-process, the
store bookkeeping behind resume, failures, best-N ordering and the heatmap file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from actors.backtest import BacktestConfig, run_backtest
from actors.backtest_data import BarSeries
from actors.cli import main
from actors.sweep import InProcess, Sweep, choose_path
from actors.sweep_grid import batch_size, batches, expand, parse_axis, parse_grid
from actors.sweep_report import best, write_heatmap
from actors.sweep_run import SweepSpec, run_batch
from data import store_sweeps
from data.store import Store
from engine.errors import ConfigError, UnknownName
from engine.exits import ExitConfig

DAY = 86_400 * 10**9


def synthetic_bars(n: int = 1500, seed: int = 3) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.015, n))), 2)
    open_ = np.round(np.concatenate([[100.0], close[:-1]]) * (1 + rng.normal(0, 0.002, n)), 2)
    high, low = np.maximum(open_, close) + 0.5, np.minimum(open_, close) - 0.5
    return BarSeries("SYN", DAY, np.arange(n, dtype=np.int64) * DAY, open_, high, low, close,
                     np.full(n, 1000.0))


@pytest.fixture(scope="module")
def bars() -> BarSeries:
    return synthetic_bars()


def fast_available() -> bool:
    try:
        from strategies.fast import supports
    except ImportError:
        return False
    return supports("sma_cross")


# --- grid syntax -----------------------------------------------------------------------------
def test_range_includes_stop_when_it_lands_on_the_grid():
    assert parse_axis("fast=2:20:2") == ("fast", [2, 4, 6, 8, 10, 12, 14, 16, 18, 20])


def test_range_stops_before_a_stop_that_is_off_the_grid():
    assert parse_axis("slow=30:65:10") == ("slow", [30, 40, 50, 60])


def test_range_with_a_fractional_step_gives_clean_floats():
    assert parse_axis("entry_z=0.1:0.5:0.1") == ("entry_z", [0.1, 0.2, 0.3, 0.4, 0.5])


def test_comma_list_keeps_order_and_types():
    assert parse_axis("x=20,5,1.5,true") == ("x", [20, 5, 1.5, "true"])


@pytest.mark.parametrize("spec", ["fast", "fast=", "=1,2", "fast=1:10", "fast=a:b:c",
                                  "fast=10:1:1", "fast=1:10:0", "fast=1,,2", "fast=1,1"])
def test_malformed_axis_is_a_config_error_naming_the_spec(spec):
    with pytest.raises(ConfigError, match="--grid"):
        parse_axis(spec)


def test_grid_rejects_a_repeated_axis_and_an_empty_grid():
    with pytest.raises(ConfigError, match="twice"):
        parse_grid(["fast=1,2", "fast=3"])
    with pytest.raises(ConfigError, match="at least one"):
        parse_grid([])


def test_expand_is_the_product_with_the_first_axis_slowest_and_fixed_params_in_every_set():
    sets = expand(parse_grid(["fast=1,2", "slow=10:30:10"]), {"allow_short": "false"})
    assert [(s["fast"], s["slow"]) for s in sets] == [
        (1, 10), (1, 20), (1, 30), (2, 10), (2, 20), (2, 30)]
    assert all(s["allow_short"] == "false" for s in sets)


def test_a_fixed_param_that_is_also_an_axis_is_refused():
    with pytest.raises(ConfigError, match="fast"):
        expand({"fast": [1, 2]}, {"fast": 3})


# --- batching --------------------------------------------------------------------------------
def test_batches_are_never_one_set_per_task():
    assert batch_size(10_000, 2, "event") == 1250          # 8 tasks on 2 CPUs
    assert batch_size(10_000, 2, "fast") == 1250
    assert batch_size(100, 2, "fast") == 32                # the fast path's floor
    assert batch_size(100, 64, "event") == 4               # many CPUs: the event floor
    assert batch_size(3, 8, "event") == 3                  # never more than the grid


def test_batches_cover_every_index_once_in_order():
    parts = batches(list(range(10)), 4)
    assert parts == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError):
        batches([1], 0)


# --- the batch function ----------------------------------------------------------------------
def test_a_bad_combination_fails_alone_and_the_rest_of_the_batch_runs(bars):
    spec = SweepSpec("sma_cross", BacktestConfig())
    rows = run_batch(spec, bars, [(0, {"fast": 5, "slow": 20}), (1, {"fast": 20, "slow": 5}),
                                  (2, {"fast": 10, "slow": 40})])
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "fast" in rows[1]["error"] and "slow" in rows[1]["error"]
    ref = run_backtest(bars, BacktestConfig(params={"fast": 5, "slow": 20}))
    assert rows[0]["final_value"] == ref.final_value
    assert rows[0]["closed_trades"] == len(ref.trades)


def test_an_unexpected_error_in_one_backtest_is_that_sets_failure(bars, monkeypatch):
    import actors.sweep_run as sweep_run
    real = sweep_run.run_backtest

    def flaky(data, cfg):
        if cfg.params["fast"] == 7:
            raise TypeError("boom")
        return real(data, cfg)

    monkeypatch.setattr(sweep_run, "run_backtest", flaky)
    rows = run_batch(SweepSpec("sma_cross", BacktestConfig()), bars,
                     [(0, {"fast": 7, "slow": 20}), (1, {"fast": 5, "slow": 20})])
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert rows[0]["error"] == "TypeError: boom"


@pytest.mark.skipif(not fast_available(), reason="strategies.fast has not landed")
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_fast_and_event_batches_give_the_same_rows(bars, fill):
    cfg = BacktestConfig(fill=fill, fee_bps=5.0)
    sets = [(i, s) for i, s in enumerate(expand({"fast": [3, 8, 30], "slow": [8, 20, 50]}))]
    path, settings, _ = choose_path(cfg, bars, [s for _, s in sets])
    assert path == "fast"
    fast = run_batch(SweepSpec("sma_cross", cfg, "fast", settings), bars, sets)
    event = run_batch(SweepSpec("sma_cross", cfg), bars, sets)
    for f, e in zip(fast, event, strict=True):
        assert f["status"] == e["status"]
        if f["status"] == "ok":
            assert f["final_value"] == pytest.approx(e["final_value"], abs=1e-9)
            assert f["closed_trades"] == e["closed_trades"]
            for key in ("fills", "wins", "losses", "max_drawdown", "exposure", "sharpe"):
                assert f[key] == pytest.approx(e[key], abs=1e-9), key


def test_settings_the_fast_path_cannot_reproduce_go_to_the_event_path(bars):
    sets = [{"fast": 5, "slow": 20}]
    assert choose_path(BacktestConfig(slippage_bps=2.0), bars, sets)[0] == "event"
    assert choose_path(BacktestConfig(exits=ExitConfig(stop_loss_pct=2.0)), bars,
                       sets)[0] == "event"
    assert choose_path(BacktestConfig(), bars, [{"allow_short": True}])[0] == "event"
    assert choose_path(BacktestConfig(), bars, sets, "event")[0] == "event"
    with pytest.raises(ConfigError, match="fast does not apply"):
        choose_path(BacktestConfig(slippage_bps=2.0), bars, sets, "fast")


# --- the sweep and its store -----------------------------------------------------------------
class Counting(InProcess):
    """In-process batches that remember what ran; can stop after `stop_after` batches (an
    interrupt) or report a batch's task as dead."""

    def __init__(self, stop_after: int | None = None, dead: set[int] = frozenset()) -> None:
        self.ran: list[int] = []
        self.stop_after, self.dead = stop_after, dead

    def map(self, spec, data, work):
        for n, batch in enumerate(work):
            if self.stop_after is not None and n == self.stop_after:
                raise KeyboardInterrupt
            self.ran += [i for i, _ in batch]
            yield batch, (RuntimeError("worker died\nOOM") if n in self.dead
                          else run_batch(spec, data, batch))


GRID = {"fast": [5, 10, 40], "slow": [10, 30]}      # (10,10), (40,10), (40,30) fail


def new_sweep(store, bars, grid=GRID):
    return Sweep(store, SweepSpec("sma_cross", BacktestConfig()), bars, expand(grid),
                 {"strategy": "sma_cross", "grid": grid})


def test_every_set_is_written_and_failed_sets_are_recorded_not_raised(tmp_path, bars):
    with Store.open(tmp_path / "s.duckdb") as store:
        out = new_sweep(store, bars).run(InProcess(), batch=2)
        assert out.status == "finished" and out.batches == 3
        assert [r["status"] for r in out.results] == ["ok", "ok", "failed", "ok", "failed",
                                                      "failed"]
        record = store_sweeps.sweep_record(store, out.sweep_id)
        assert record["status"] == "finished" and record["sets"] == 6
        assert record["config"]["grid"] == GRID


def test_resume_runs_only_the_sets_not_yet_recorded(tmp_path, bars):
    with Store.open(tmp_path / "s.duckdb") as store:
        sweep = new_sweep(store, bars)
        first = Counting(stop_after=1)
        with pytest.raises(KeyboardInterrupt):
            sweep.run(first, batch=2)
        sweep_id = store.rows("SELECT sweep_id, status FROM sweeps")[0]
        assert sweep_id[1] == "interrupted"
        assert store_sweeps.finished_sets(store, sweep_id[0]) == {0, 1}
        second = Counting()
        out = new_sweep(store, bars).run(second, resume=sweep_id[0], batch=2)
        assert second.ran == [2, 3, 4, 5]
        assert out.skipped == 2 and out.status == "finished" and len(out.results) == 6


def test_a_dead_task_marks_its_sets_lost_and_a_resume_runs_them_again(tmp_path, bars):
    with Store.open(tmp_path / "s.duckdb") as store:
        out = new_sweep(store, bars).run(Counting(dead={0}), batch=2)
        assert out.status == "incomplete" and out.lost == 2
        lost = [r for r in out.results if r["status"] == "lost"]
        assert [r["set_index"] for r in lost] == [0, 1] and lost[0]["error"].endswith("OOM")
        again = Counting()
        out = new_sweep(store, bars).run(again, resume=out.sweep_id, batch=2)
        assert again.ran == [0, 1] and out.status == "finished"
        assert [r["status"] for r in out.results][:2] == ["ok", "ok"]


def test_resume_with_another_grid_is_refused(tmp_path, bars):
    with Store.open(tmp_path / "s.duckdb") as store:
        out = new_sweep(store, bars).run(InProcess())
        with pytest.raises(ConfigError, match="grid"):
            new_sweep(store, bars, {"fast": [5], "slow": [30]}).run(
                InProcess(), resume=out.sweep_id)


# --- best sets and the heatmap ---------------------------------------------------------------
ROWS = [{"set_index": 0, "status": "ok", "final_value": 5.0, "max_drawdown": 0.3, "sharpe": None},
        {"set_index": 1, "status": "failed", "final_value": None},
        {"set_index": 2, "status": "ok", "final_value": 9.0, "max_drawdown": 0.5, "sharpe": 1.0},
        {"set_index": 3, "status": "ok", "final_value": 9.0, "max_drawdown": 0.1, "sharpe": 0.5}]


def test_best_sorts_by_the_metric_ties_by_index_and_leaves_out_failed_sets():
    assert [r["set_index"] for r in best(ROWS, "final_value", 10)] == [2, 3, 0]
    assert [r["set_index"] for r in best(ROWS, "final_value", 1)] == [2]


def test_best_by_drawdown_is_lowest_first_and_missing_values_come_last():
    assert [r["set_index"] for r in best(ROWS, "max_drawdown", 3)] == [3, 0, 2]
    assert [r["set_index"] for r in best(ROWS, "sharpe", 3)] == [2, 3, 0]
    with pytest.raises(UnknownName):
        best(ROWS, "nope", 3)


def test_heatmap_is_written_for_two_axes_only(tmp_path):
    results = [{"set_index": i, "status": "ok" if i != 1 else "failed", "error": "bad",
                "params": {"fast": f, "slow": s}, "final_value": 100.0 + i}
               for i, (f, s) in enumerate([(1, 10), (1, 20), (2, 10), (2, 20)])]
    path = write_heatmap(tmp_path / "h.svg", results, {"fast": [1, 2], "slow": [10, 20]},
                         "final_value", "t")
    svg = path.read_text()
    assert svg.startswith("<svg") and svg.count("<rect") >= 4 and "fast=1 slow=20: bad" in svg
    assert write_heatmap(tmp_path / "x.svg", results, {"fast": [1, 2]}, "final_value",
                         "t") is None


def test_cli_no_ray_json_prints_results_path_and_heatmap(tmp_path, capsys):
    from tests.refdata import ORCL, refdata_path
    db = tmp_path / "cli.duckdb"
    code = main(["sweep", "--data", str(refdata_path(ORCL)), "--format", "yahoo",
                 "--strategy", "sma_cross", "--grid", "fast=10,20", "--grid", "slow=20:30:10",
                 "--no-ray", "--db", str(db), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["path"] in ("fast", "event") and doc["sets"] == 4 and doc["failed"] == 1
    by_set = {(r["fast"], r["slow"]): r for r in doc["results"]}
    assert by_set[(10, 30)]["final_value"] == pytest.approx(508192.3587851795, abs=1e-6)
    assert by_set[(10, 30)]["closed_trades"] == 97
    assert by_set[(20, 20)]["status"] == "failed"
    assert doc["heatmap"].endswith(".svg") and (tmp_path / doc["heatmap"]).exists()
    assert doc["best"][0] == max((r for r in doc["results"] if r["status"] == "ok"),
                                 key=lambda r: r["final_value"])


# --- walk-forward ----------------------------------------------------------------------------
def test_windows_cut_the_bars_into_consecutive_nearly_equal_parts(bars):
    from actors.sweep_walk import windows
    parts = windows(bars, 4)
    assert [len(p) for p in parts] == [375, 375, 375, 375]
    assert np.array_equal(np.concatenate([p.close for p in parts]), bars.close)
    with pytest.raises(ConfigError, match="--walk-forward"):
        windows(bars, 1)


def test_walk_forward_runs_the_fit_windows_best_set_on_the_next_window(tmp_path, bars):
    from actors.sweep_walk import walk_forward, windows
    grid = {"fast": [3, 8], "slow": [20, 40]}
    with Store.open(tmp_path / "w.duckdb") as store:
        steps = walk_forward(store, SweepSpec("sma_cross", BacktestConfig()), bars,
                             expand(grid), {"grid": grid}, InProcess(), 3, "final_value")
        assert len(store.rows("SELECT * FROM sweeps")) == 2
    parts = windows(bars, 3)
    assert [s["window"] for s in steps] == [0, 1]
    for k, step in enumerate(steps):
        fits = {tuple(p.values()): run_backtest(parts[k], BacktestConfig(params=p)).final_value
                for p in expand(grid)}
        assert step["fit"] == max(fits.values())
        test = run_backtest(parts[k + 1], BacktestConfig(params=step["params"]))
        assert step["test"] == pytest.approx(test.final_value, abs=1e-9)
        assert step["test_closed_trades"] == len(test.trades)


def test_cli_an_unknown_parameter_is_one_error_not_a_grid_of_failures(tmp_path, capsys):
    from tests.refdata import ORCL, refdata_path
    code = main(["sweep", "--data", str(refdata_path(ORCL)), "--format", "yahoo",
                 "--grid", "fsat=1,2", "--no-ray", "--db", str(tmp_path / "x.duckdb")])
    assert code == 2
    assert "fsat: not parameters of sma_cross" in capsys.readouterr().err
