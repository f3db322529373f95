"""`phalanx bench kernels` prints the figures the issue asks for (no timing asserted)."""

import orjson

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
