"""`benchmarks.timing.timings` under a real pytest-benchmark run: the statistics when
timing is on, a skip that says why (not an AttributeError) under --benchmark-disable."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BENCH = '''
from benchmarks.timing import timings

def test_sum(benchmark):
    benchmark.pedantic(sum, args=(range(100),), rounds=3, iterations=1)
    stats = timings(benchmark)
    assert 0 < stats.min <= stats.median
    print("MIN", stats.min)
'''


def _pytest(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_tiny_bench.py").write_text(BENCH)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-rs",
                           "-p", "no:cacheprovider", str(tmp_path), *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_timed_rounds_give_their_statistics(tmp_path):
    done = _pytest(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MIN" in done.stdout and "1 passed" in done.stdout


def test_disabled_timing_skips_with_the_reason(tmp_path):
    done = _pytest(tmp_path, "--benchmark-disable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "timing disabled (--benchmark-disable)" in done.stdout
    assert "MIN" not in done.stdout
