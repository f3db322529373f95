"""`phalanx bench kernels` prints the figures the issue asks for (no timing asserted)."""

import orjson
import pytest

from actors.cli import main

FIELDS = {"kernel", "positions", "numba_ns_per_position", "numpy_ns_per_position",
          "python_ns_per_position"}


def test_bench_kernels_json_has_every_kernel_at_every_size(capsys):
    argv = ["bench", "kernels", "--sizes", "100,1000", "--repeats", "1",
            "--gate-accounts", "20", "--json"]
    assert main(argv) == 0
    report = orjson.loads(capsys.readouterr().out)
    rows = report["results"]
    assert {(r["kernel"], r["positions"]) for r in rows} >= {
        (k, n) for k in ("trailing_exit", "fleet_sizing") for n in (100, 1000)}
    for row in rows:
        assert FIELDS <= set(row)
        assert all(row[f] > 0 for f in FIELDS - {"kernel", "positions"})
    assert report["gate"]["accounts"] == 20 and report["gate"]["decisions_per_s"] > 0


def test_bench_with_bad_sizes_is_a_one_line_error(capsys):
    assert main(["bench", "kernels", "--sizes", "ten"]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_bench_backtest_peers_do_the_same_work_as_ours(tmp_path):
    """The backtest benchmark's event path and its backtrader peer end on the same value
    on the same file (a slice of the BTC minute bars here, to keep the test short)."""
    from benchmarks.backtest import backtrader_backtest, event_backtest
    from benchmarks.fast import BTC_FILE
    from tests.refdata import refdata_path

    lines = refdata_path(BTC_FILE).read_text().splitlines()[:3001]
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(lines) + "\n")
    ours, theirs = event_backtest(path), backtrader_backtest(path)
    assert ours.bars == 3000 and len(ours.fills) == len(theirs.fills) > 10
    assert ours.final_value == pytest.approx(theirs.final_value, rel=1e-6)


def test_bench_backtest_breakdown_splits_the_event_run_and_prices_the_target(tmp_path):
    """event_breakdown: load and run apart, the run's signals, both per-order costs and
    the budget the 20x target leaves (a short slice of the BTC bars; no time asserted)."""
    from benchmarks.backtest import TARGETS, event_breakdown
    from benchmarks.fast import BTC_FILE
    from tests.refdata import refdata_path

    lines = refdata_path(BTC_FILE).read_text().splitlines()[:2001]
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(lines) + "\n")
    parts = event_breakdown(path, 1, backtrader_best_s=2.0)
    assert parts["target_budget_s"] == 2.0 / TARGETS["event_vs_backtrader"]
    assert parts["signals"] > 10
    assert all(parts[k] > 0 for k in ("load_s", "run_s", "signal_path_us",
                                      "signal_gate_us", "backtrader_order_us",
                                      "quiet_run_s", "signal_in_run_us",
                                      "venue_order_us"))
    assert parts["strategy_only_s"] < parts["quiet_run_s"] < parts["run_s"]
