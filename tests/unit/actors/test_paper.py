"""The paper session and the `phalanx` command line, in process (no Ray)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson
import pytest

from actors.cli import build_parser, main
from actors.paper import PaperConfig, run_paper, summarize
from engine.errors import ConfigError
from engine.messages import PositionClosed


def paper(**kw):
    cfg = PaperConfig(**{"accounts": 2, "minutes": 90, "db": None, **kw})
    return asyncio.run(run_paper(cfg))


def test_accounts_agree_with_the_venue_after_a_session():
    result = paper()
    assert result.signals > 0
    for account in result.accounts:
        venue = result.broker.venue.portfolio(account.account_id)
        assert account.portfolio.cash == pytest.approx(venue.cash)
        for symbol in ("SIM-A", "SIM-B"):
            assert account.portfolio.quantity(symbol) == venue.quantity(symbol)
        assert all(o.is_terminal or o.is_open for o in account.orders.values())
        assert account.unconfirmed == set()


def test_same_seed_gives_the_same_session_and_another_seed_differs():
    a, b, c = (summarize(paper(seed=s)) for s in (3, 3, 4))
    assert a == b
    assert a != c


def test_a_session_with_injected_broker_faults_still_reconciles():
    result = paper(fault_rate=0.2, seed=5)
    for account in result.accounts:
        venue = result.broker.venue.portfolio(account.account_id)
        assert account.portfolio.cash == pytest.approx(venue.cash)
        assert all(o.is_terminal for o in account.orders.values() if not o.is_open)
        assert account.session.logins >= 1


@pytest.mark.parametrize("kwargs, key", [
    ({"accounts": 0}, "accounts"), ({"symbols": ()}, "symbols"),
    ({"cash": float("nan")}, "cash"), ({"fault_rate": 0.9}, "fault_rate"),
])
def test_bad_paper_config_names_the_key(kwargs, key):
    with pytest.raises(ConfigError) as err:
        PaperConfig(**kwargs)
    assert err.value.key == key


def test_paper_json_output_has_every_account(capsys):
    assert main(["paper", "--accounts", "2", "--minutes", "30", "--json", "--no-db"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert [r["account"] for r in out["accounts"]] == ["acct-1", "acct-2"]
    assert {"equity", "realized", "fees", "trades"} <= set(out["accounts"][0])


def test_paper_table_output_lists_accounts_and_positions(capsys, tmp_path):
    db = str(tmp_path / "paper.duckdb")
    assert main(["paper", "--minutes", "30", "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"in {db}" in out
    assert "accounts" in out and "open positions" in out and "acct-3" in out


@pytest.mark.parametrize("argv, needle", [
    (["paper", "--accounts", "0"], "accounts"),
    (["paper", "--strategy", "nope"], "nope"),
    (["paper", "--param", "fast"], "--param"),
    (["paper", "--param", "fast=30", "--param", "slow=10"], "fast"),
    (["paper", "--risk", "/nonexistent/risk.toml"], "risk.toml"),
])
def test_bad_arguments_give_a_one_line_error_and_exit_2(argv, needle, capsys):
    assert main([*argv, "--no-db"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_every_subcommand_has_help_with_an_example():
    parser = build_parser()
    assert "example" in parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, child in sub.choices.items():
        assert "example" in child.format_help(), name


def test_the_console_script_runs_from_a_shell():
    out = subprocess.run([sys.executable, "-m", "actors.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "paper" in out


def test_the_session_journal_lands_in_duckdb_and_matches_the_accounts(tmp_path):
    from data.store import Store

    db = str(tmp_path / "journal.duckdb")
    result = paper(db=db, minutes=60)
    fills = sum(len(o.trade_ids) for a in result.accounts for o in a.orders.values())
    closed = sum(isinstance(e, PositionClosed) for a in result.accounts for e in a.events)
    with Store.open(db, read_only=True) as store:
        assert store.count("fills", run_id=result.run_id) == fills > 0
        assert store.count("trades", run_id=result.run_id) == closed
        assert store.count("signals", run_id=result.run_id) == result.signals
        assert store.count("orders", run_id=result.run_id) == sum(
            len(a.orders) for a in result.accounts)
        [(status, kind)] = store.rows("SELECT status, kind FROM runs WHERE run_id = ?",
                                      [result.run_id])
        assert (status, kind) == ("finished", "paper")
        assert store.rows("SELECT symbol, qty_step, taker_bps, venue FROM instruments "
                          "ORDER BY symbol") == [(i.symbol, i.qty_step, i.fees.taker_bps, "sim")
                                                 for i in result.broker.venue.instruments.values()]
        [(last_equity,)] = store.rows(
            "SELECT equity FROM equity WHERE run_id = ? AND account_id = 'acct-1' "
            "ORDER BY ts_ns DESC LIMIT 1", [result.run_id])
    assert last_equity == pytest.approx(result.accounts[0].equity())


def test_secrets_never_reach_the_journal(tmp_path):
    from data.store import Store

    db = str(tmp_path / "journal.duckdb")
    result = paper(db=db, minutes=30, fault_rate=0.2)
    with Store.open(db, read_only=True) as store:
        for table in ("order_events", "risk_events", "run_events", "runs"):
            for row in store.rows(f"SELECT * FROM {table}"):
                assert not any("secret-" in str(v) or "key-acct" in str(v) for v in row)
    assert result.run_id
