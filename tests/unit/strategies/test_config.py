"""Strategy configs: typed, validated once, and every error names its key."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from strategies.config import (
    BreakoutConfig,
    ChildSpec,
    CombinerConfig,
    MeanReversionConfig,
    SmaCrossConfig,
    SmaTrendConfig,
    config_from_params,
    parse_children,
)
from strategies.registry import create_strategy


def _error(config_cls, params) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        config_from_params(config_cls, params)
    return err.value


def test_cli_strings_are_converted_to_the_field_types():
    config = config_from_params(SmaCrossConfig, {"fast": "5", "slow": " 20", "allow_short": "yes"})
    assert config == SmaCrossConfig(fast=5, slow=20, allow_short=True)
    assert config_from_params(MeanReversionConfig, {"entry_z": "2.5", "exit_z": 0}) == \
        MeanReversionConfig(entry_z=2.5, exit_z=0.0)
    assert config_from_params(BreakoutConfig, {"exit_window": "none"}).exit_window is None
    assert config_from_params(BreakoutConfig, {"exit_window": "10"}).exit_window == 10


def test_no_params_gives_the_defaults():
    assert config_from_params(SmaCrossConfig, {}) == SmaCrossConfig(fast=10, slow=30)
    assert config_from_params(SmaTrendConfig) == SmaTrendConfig()


def test_unknown_key_is_an_error_naming_the_key_and_the_known_keys():
    err = _error(SmaCrossConfig, {"fsat": 5})
    assert err.key == "fsat"
    assert "unknown key" in str(err) and "fast, slow, allow_short" in str(err)


def test_fast_not_below_slow_is_an_error_naming_fast():
    for fast, slow in ((30, 30), (40, 30)):
        err = _error(SmaCrossConfig, {"fast": fast, "slow": slow})
        assert err.key == "fast" and "must be < slow" in err.reason


@pytest.mark.parametrize(("config_cls", "key", "value"), [
    (SmaCrossConfig, "fast", "ten"),
    (SmaCrossConfig, "slow", "3.5"),
    (SmaCrossConfig, "slow", 30.0),
    (SmaCrossConfig, "allow_short", "maybe"),
    (SmaCrossConfig, "fast", True),
    (MeanReversionConfig, "entry_z", "two"),
    (MeanReversionConfig, "entry_z", "nan"),
    (MeanReversionConfig, "exit_z", "inf"),
    (BreakoutConfig, "exit_window", "x"),
    (CombinerConfig, "threshold", "high"),
])
def test_non_numeric_or_wrongly_typed_values_are_errors_naming_the_key(config_cls, key, value):
    err = _error(config_cls, {key: value})
    assert err.key == key
    assert repr(value) in str(err)


@pytest.mark.parametrize(("config_cls", "key", "value"), [
    (MeanReversionConfig, "window", -5),
    (MeanReversionConfig, "window", 1),
    (BreakoutConfig, "window", "-1"),
    (BreakoutConfig, "exit_window", 0),
    (SmaTrendConfig, "period", 0),
    (SmaCrossConfig, "fast", 0),
    (MeanReversionConfig, "exit_z", -0.1),
    (CombinerConfig, "threshold", 0),
    (CombinerConfig, "threshold", 1.5),
])
def test_out_of_range_values_are_errors_naming_the_key(config_cls, key, value):
    params = {key: value}
    if config_cls is CombinerConfig:
        params["children"] = "sma_cross"
    assert _error(config_cls, params).key == key


def test_entry_z_not_beyond_exit_z_is_an_error_naming_entry_z():
    err = _error(MeanReversionConfig, {"entry_z": 1.0, "exit_z": 1.0})
    assert err.key == "entry_z" and "exit_z" in err.reason


def test_configs_built_in_code_are_validated_too():
    with pytest.raises(ConfigError, match="fast"):
        SmaCrossConfig(fast=50, slow=20)
    with pytest.raises(ConfigError, match="window"):
        BreakoutConfig(window="20")
    with pytest.raises(ConfigError, match="children"):
        CombinerConfig()


def test_the_error_names_the_source_when_one_is_given():
    with pytest.raises(ConfigError) as err:
        create_strategy("sma_cross", "s1", {"fast": "x"})
    assert err.value.source == "strategy sma_cross"
    assert str(err.value).startswith("strategy sma_cross: fast: must be an integer")


def test_children_are_parsed_from_a_compact_string():
    children = parse_children("sma_cross:fast=5,slow=20,weight=2; breakout:window=20;")
    assert children == (ChildSpec("sma_cross", 2.0, (("fast", "5"), ("slow", "20"))),
                        ChildSpec("breakout", 1.0, (("window", "20"),)))
    assert config_from_params(CombinerConfig, {"children": "sma_trend"}).children == (
        ChildSpec("sma_trend"),)


@pytest.mark.parametrize(("text", "key"), [
    ("sma_cross:fast", "children[0]"),
    ("sma_trend; sma_cross:weight=-1", "children[1].weight"),
    ("sma_trend:weight=heavy", "children[0].weight"),
    (";", "children"),
])
def test_malformed_children_are_errors_naming_the_child(text, key):
    assert _error(CombinerConfig, {"children": text}).key == key
