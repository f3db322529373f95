"""Risk limits: typed, validated once, errors naming the file, the key and the reason."""

from __future__ import annotations

import math
import tomllib

import pytest

from engine.errors import ConfigError
from risk.config import AccountLimits, FleetLimits, RiskConfig, StrategyLimits

SOURCE = "risk.toml"

TOML = """
remembered_ids = 5000

[fleet]
max_gross_exposure = 5_000_000
daily_loss_reduce = 0.03
daily_loss_halt = 0.05

[account_defaults]
max_order_notional = 50_000
max_orders_per_second = 10
drawdown_reduce = 0.1
drawdown_halt = 0.2

[accounts.A1]
max_order_notional = 10_000
max_open_positions = 3

[strategies.sma]
max_position_qty = 100
"""


def load(data):
    return RiskConfig.from_mapping(data, source=SOURCE)


def error(data) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(data)
    assert info.value.source == SOURCE
    assert str(info.value).startswith(f"{SOURCE}: {info.value.key}: ")
    return info.value


def test_a_toml_file_builds_typed_limits_with_accounts_overriding_defaults_key_by_key():
    cfg = load(tomllib.loads(TOML))
    assert cfg.fleet == FleetLimits(max_gross_exposure=5e6, daily_loss_reduce=0.03,
                                    daily_loss_halt=0.05)
    a1 = cfg.limits_for("A1")
    assert (a1.max_order_notional, a1.max_open_positions, a1.max_orders_per_second,
            a1.drawdown_halt) == (10_000.0, 3, 10.0, 0.2)
    assert cfg.limits_for("B7") == cfg.account_defaults
    assert cfg.strategies["sma"] == StrategyLimits(max_position_qty=100.0)
    assert cfg.remembered_ids == 5000
    assert isinstance(a1.max_order_notional, float)


def test_none_means_no_limit_and_an_empty_file_denies_every_account():
    assert AccountLimits().max_order_qty is None
    cfg = load({})
    assert cfg.limits_for("A1") is None
    assert load({"account_defaults": {}}).limits_for("A1") == AccountLimits()


def test_config_tables_are_read_only():
    cfg = load({"accounts": {"A1": {}}})
    with pytest.raises(TypeError):
        cfg.accounts["A2"] = AccountLimits()  # type: ignore[index]


@pytest.mark.parametrize("data, key", [
    ({"limits": {}}, "limits"),
    ({"fleet": {"max_gross": 1}}, "fleet.max_gross"),
    ({"account_defaults": {"max_qty": 1}}, "account_defaults.max_qty"),
    ({"accounts": {"A1": {"daily_loss": 0.1}}}, "accounts.A1.daily_loss"),
    ({"strategies": {"sma": {"max_open_positions": 1}}}, "strategies.sma.max_open_positions"),
])
def test_unknown_keys_are_errors_naming_the_file_and_the_key(data, key):
    err = error(data)
    assert err.key == key
    assert "unknown key" in err.reason


@pytest.mark.parametrize("value", ["10", True, [1], {"a": 1}])
def test_a_limit_of_the_wrong_type_is_an_error(value):
    err = error({"accounts": {"A1": {"max_order_qty": value}}})
    assert err.key == "accounts.A1.max_order_qty"
    assert "finite number" in err.reason


@pytest.mark.parametrize("value", [-1, -0.5, math.nan, math.inf, -math.inf])
def test_negative_nan_and_infinite_limits_are_errors(value):
    err = error({"fleet": {"max_gross_exposure": value}})
    assert err.key == "fleet.max_gross_exposure"
    assert repr(value) in err.reason


@pytest.mark.parametrize("value", [0, 1.5, 5, -0.1])
def test_loss_thresholds_must_be_fractions_of_equity(value):
    err = error({"account_defaults": {"daily_loss_halt": value}})
    assert err.key == "account_defaults.daily_loss_halt"
    assert "fraction" in err.reason


def test_counts_must_be_integers_and_rates_positive():
    assert error({"account_defaults": {"max_open_positions": 2.5}}).key == (
        "account_defaults.max_open_positions")
    assert error({"account_defaults": {"max_orders_per_second": 0}}).key == (
        "account_defaults.max_orders_per_second")
    assert error({"account_defaults": {"max_orders_per_second": 1, "order_burst": 0}}).key == (
        "account_defaults.order_burst")
    assert error({"accounts": {"A1": {"check_free_balance": "yes"}}}).key == (
        "accounts.A1.check_free_balance")


def test_a_section_that_is_not_a_table_is_an_error():
    assert error({"accounts": {"A1": 5}}).key == "accounts.A1"
    assert error({"fleet": [1, 2]}).key == "fleet"
    assert error({"remembered_ids": 0}).key == "remembered_ids"


def test_halt_threshold_before_reduce_is_rejected_by_a_named_check():
    err = error({"accounts": {"A1": {"drawdown_reduce": 0.3, "drawdown_halt": 0.2}}})
    assert err.key == "accounts.A1.drawdown_halt"
    assert "_check_drawdown_halt_beyond_reduce" in err.reason
    err = error({"fleet": {"daily_loss_reduce": 0.05, "daily_loss_halt": 0.03}})
    assert err.key == "fleet.daily_loss_halt"
    assert "_check_daily_loss_halt_beyond_reduce" in err.reason
    assert AccountLimits(drawdown_reduce=0.2, drawdown_halt=0.2).drawdown_halt == 0.2


def test_minimum_above_maximum_and_burst_without_rate_are_rejected():
    assert "_check_max_order_qty_beyond_min" in error(
        {"account_defaults": {"min_order_qty": 5, "max_order_qty": 4}}).reason
    assert "_check_max_order_notional_beyond_min" in error(
        {"account_defaults": {"min_order_notional": 5, "max_order_notional": 4}}).reason
    assert "max_orders_per_second" in error({"account_defaults": {"order_burst": 3}}).reason


def test_an_account_inherits_a_bad_default_and_the_error_names_the_defaults():
    err = error({"account_defaults": {"max_order_qty": -1}, "accounts": {"A1": {}}})
    assert err.key == "account_defaults.max_order_qty"


def test_an_override_that_breaks_a_cross_field_check_with_a_default_names_the_account():
    err = error({"account_defaults": {"drawdown_halt": 0.2},
                 "accounts": {"A1": {"drawdown_reduce": 0.3}}})
    assert err.key == "accounts.A1.drawdown_halt"


def test_dataclasses_validate_on_direct_construction_too():
    with pytest.raises(ConfigError) as info:
        AccountLimits(max_position_qty=math.nan)
    assert info.value.key == "max_position_qty" and info.value.source is None
    with pytest.raises(ConfigError):
        RiskConfig(accounts={"A1": {"max_order_qty": 1}})  # type: ignore[dict-item]
    with pytest.raises(ConfigError):
        RiskConfig(strategies={"": StrategyLimits()})


def test_bucket_size_defaults_to_the_rate_rounded_up():
    assert AccountLimits(max_orders_per_second=2.5).bucket_size == 3
    assert AccountLimits(max_orders_per_second=0.2).bucket_size == 1
    assert AccountLimits(max_orders_per_second=5, order_burst=20).bucket_size == 20


# --- loading a file ----------------------------------------------------------------------

def test_load_reads_a_toml_file(tmp_path):
    path = tmp_path / "risk.toml"
    path.write_text("[fleet]\nmax_gross_exposure = 1e6\n"
                    "[account_defaults]\nmax_order_notional = 5000\n")
    cfg = RiskConfig.load(path)
    assert cfg.fleet.max_gross_exposure == 1e6
    assert cfg.limits_for("anyone").max_order_notional == 5000


def test_load_reads_json_by_extension(tmp_path):
    path = tmp_path / "risk.json"
    path.write_text('{"account_defaults": {"max_open_positions": 3}}')
    assert RiskConfig.load(path).limits_for("x").max_open_positions == 3


@pytest.mark.parametrize("text, key", [
    ("[fleet\nmax_gross_exposure = 1", "(syntax)"),
    ("[account_defaults]\nmax_order_notional = 'lots'", "account_defaults.max_order_notional"),
    ("[acounts.A1]\nmax_order_qty = 1", "acounts"),
])
def test_a_broken_risk_file_names_the_file_and_the_key(tmp_path, text, key):
    path = tmp_path / "risk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        RiskConfig.load(path)
    assert err.value.source == str(path)
    assert key in str(err.value)


def test_a_missing_risk_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        RiskConfig.load(tmp_path / "nope.toml")
    assert "nope.toml" in str(err.value)
