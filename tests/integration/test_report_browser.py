"""The run report rendered by a real headless browser (Debian's chromium), and its PDF.

`make test` installs chromium; a machine without it fails here rather than skipping, so
a missing browser never hides in CI.
"""

from __future__ import annotations

import asyncio
import re
import subprocess

import pytest

from actors.cli import main
from actors.paper import PaperConfig, run_paper
from data.report import chromium_args, find_chromium, render_report, write_pdf
from data.store import Store
from engine.errors import UnknownName

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run_db(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("report") / "runs.duckdb")
    result = asyncio.run(run_paper(PaperConfig(accounts=2, minutes=120, db=db)))
    return db, result.run_id


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    assert path, "chromium is not installed: `make test` installs Debian's chromium"
    return path


def rendered_dom(chromium: str, html_file, tmp_path) -> str:
    cmd = [*chromium_args(chromium, str(tmp_path / "profile")), "--dump-dom",
           html_file.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          check=True).stdout


def test_the_browser_shows_every_chart_and_table(run_db, chromium, tmp_path):
    db, run_id = run_db
    page = tmp_path / "report.html"
    with Store.open(db, read_only=True) as store:
        page.write_text(render_report(store, run_id))
    dom = rendered_dom(chromium, page, tmp_path)
    charts = re.findall(r'<svg class="chart" data-chart="(\w+)"', dom)
    assert charts.count("line") >= 2 and "area" in charts and "bar" in charts
    assert len(re.findall(r"<path class=\"series\" d=\"M", dom)) >= 3   # drawn, not empty
    for heading in ("Summary", "Per account", "Per strategy", "Per symbol", "Equity",
                    "Exit reasons", "Latency", "Trades"):
        assert f"<h2>{heading}</h2>" in dom
    assert dom.count("<tr>") > 10
    assert "acct-1" in dom and "acct-2" in dom and "signal_fanout" in dom


def test_the_pdf_has_pages(run_db, chromium, tmp_path):
    db, run_id = run_db
    page = tmp_path / "report.html"
    with Store.open(db, read_only=True) as store:
        page.write_text(render_report(store, run_id))
    pdf = write_pdf(page, tmp_path / "report.pdf", chromium)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 2


def test_report_command_writes_html_and_pdf(run_db, tmp_path, capsys):
    db, run_id = run_db
    out = tmp_path / "cli.html"
    assert main(["report", "latest", "--db", db, "--out", str(out), "--pdf"]) == 0
    assert out.exists() and out.with_suffix(".pdf").exists()
    assert run_id in out.read_text()


def test_an_unknown_run_lists_the_runs(run_db):
    db, run_id = run_db
    with Store.open(db, read_only=True) as store, pytest.raises(UnknownName) as err:
        render_report(store, "no-such-run")
    assert run_id in str(err.value)


def test_report_of_a_missing_database_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", "latest", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "no such file" in capsys.readouterr().err
