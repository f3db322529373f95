"""Typed, validated strategy configurations.

Each built-in strategy has one frozen dataclass here. Ranges and cross-field rules are
checked in `__post_init__` (so a config built in code is checked too) and raise
`ConfigError` naming the key and the reason. `config_from_params` builds a config from a
loose mapping such as CLI `--param fast=10`: unknown keys, values of the wrong type and
rule violations are errors, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from engine.errors import ConfigError

ParamValue = str | int | float | bool
C = TypeVar("C", bound="StrategyConfig")

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_NONE = frozenset({"", "none", "null"})


# --- checks shared by the configs --------------------------------------------------------

def _check_int(key: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(key, f"must be an integer, not {type(value).__name__} {value!r}")
    if value < minimum:
        raise ConfigError(key, f"must be >= {minimum}, got {value}")


def _check_float(key: str, value: object, *, minimum: float | None = None,
                 above: float | None = None, maximum: float | None = None) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(key, f"must be a number, not {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ConfigError(key, f"must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ConfigError(key, f"must be >= {minimum}, got {value}")
    if above is not None and value <= above:
        raise ConfigError(key, f"must be > {above}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(key, f"must be <= {maximum}, got {value}")


def _check_bool(key: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, not {type(value).__name__} {value!r}")


# --- configs -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """Base of every strategy config. Subclasses add fields and override `validate`.

    `parsers` maps a key to a function turning its string form into the field's value,
    for fields that are not a plain int, float, bool or str.
    """

    parsers: ClassVar[Mapping[str, Callable[[str], Any]]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError(key, reason) on the first invalid value."""


@dataclass(frozen=True, slots=True)
class SmaCrossConfig(StrategyConfig):
    """Fast/slow simple moving averages of the close; fast=1 is the price itself."""

    fast: int = 10
    slow: int = 30
    allow_short: bool = False

    def validate(self) -> None:
        _check_int("fast", self.fast, 1)
        _check_int("slow", self.slow, 2)
        _check_bool("allow_short", self.allow_short)
        self._check_fast_below_slow()

    def _check_fast_below_slow(self) -> None:
        if self.fast >= self.slow:
            raise ConfigError("fast", f"must be < slow ({self.fast} >= {self.slow})")


@dataclass(frozen=True, slots=True)
class SmaTrendConfig(StrategyConfig):
    """Long while the close is above its SMA(period), flat once it falls below."""

    period: int = 50

    def validate(self) -> None:
        _check_int("period", self.period, 1)


@dataclass(frozen=True, slots=True)
class MeanReversionConfig(StrategyConfig):
    """z-score of the close against the mean/std (population) of the last `window` closes."""

    window: int = 20
    entry_z: float = 2.0
    exit_z: float = 0.5
    allow_short: bool = False

    def validate(self) -> None:
        _check_int("window", self.window, 2)
        _check_float("entry_z", self.entry_z, above=0.0)
        _check_float("exit_z", self.exit_z, minimum=0.0)
        _check_bool("allow_short", self.allow_short)
        self._check_entry_beyond_exit()

    def _check_entry_beyond_exit(self) -> None:
        if self.entry_z <= self.exit_z:
            raise ConfigError(
                "entry_z", f"must be > exit_z ({self.entry_z} <= {self.exit_z})")


@dataclass(frozen=True, slots=True)
class BreakoutConfig(StrategyConfig):
    """Donchian breakout over the `window` bars before the current one.

    `exit_window` (optional) is a second, usually shorter, channel that closes a position
    when the close breaks it the other way.
    """

    window: int = 20
    exit_window: int | None = None
    allow_short: bool = False

    def validate(self) -> None:
        _check_int("window", self.window, 1)
        if self.exit_window is not None:
            _check_int("exit_window", self.exit_window, 1)
        _check_bool("allow_short", self.allow_short)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One voter of a combiner: a registered strategy name, its params and its weight."""

    name: str
    weight: float = 1.0
    params: tuple[tuple[str, ParamValue], ...] = ()

    @property
    def param_dict(self) -> dict[str, ParamValue]:
        return dict(self.params)


def parse_children(text: str) -> tuple[ChildSpec, ...]:
    """Children from `"sma_cross:fast=10,slow=30,weight=2; breakout:window=20"`.

    Children are separated by ';'; each is a strategy name, optionally followed by ':' and
    comma-separated key=value params; the key `weight` is the child's weight (default 1).
    Values stay strings here; the child's own config types them.
    """
    children = []
    for i, part in enumerate(p.strip() for p in text.split(";")):
        if not part:
            continue
        name, _, rest = part.partition(":")
        weight: float = 1.0
        params: list[tuple[str, ParamValue]] = []
        for item in (x.strip() for x in rest.split(",")):
            if not item:
                continue
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise ConfigError(f"children[{i}]", f"expected key=value, got {item!r}")
            if key.strip() == "weight":
                weight = _coerce(f"children[{i}].weight", value.strip(), float)
            else:
                params.append((key.strip(), value.strip()))
        children.append(ChildSpec(name.strip(), weight, tuple(params)))
    return tuple(children)


@dataclass(frozen=True, slots=True)
class CombinerConfig(StrategyConfig):
    """Weighted vote of child strategies; emits when |score| crosses `threshold`."""

    parsers: ClassVar[Mapping[str, Callable[[str], Any]]] = {"children": parse_children}

    children: tuple[ChildSpec, ...] = ()
    threshold: float = 0.5
    allow_short: bool = False

    def validate(self) -> None:
        if not isinstance(self.children, tuple) or not self.children:
            raise ConfigError("children", "must name at least one child strategy")
        for i, child in enumerate(self.children):
            if not isinstance(child, ChildSpec):
                raise ConfigError(f"children[{i}]", f"must be a ChildSpec, not {child!r}")
            if not isinstance(child.name, str) or not child.name:
                raise ConfigError(f"children[{i}].name", "must be a non-empty string")
            _check_float(f"children[{i}].weight", child.weight, above=0.0)
        _check_float("threshold", self.threshold, above=0.0, maximum=1.0)
        _check_bool("allow_short", self.allow_short)


# --- building a config from loose params -------------------------------------------------

@functools.cache
def _type_hints(config_cls: type) -> dict[str, Any]:
    """The resolved field types of a config class (resolving them is slow; a sweep
    validates thousands of parameter sets of the same class)."""
    return typing.get_type_hints(config_cls)


def config_from_params(config_cls: type[C], params: Mapping[str, object] | None = None,
                       *, source: str | None = None) -> C:
    """A validated `config_cls` from `params` (for example CLI `--param fast=10`).

    Strings are converted to the field's type ("10" -> 10, "true" -> True, "none" -> None
    for optional fields). Raises ConfigError naming `source`, the key and the reason for
    an unknown key, a value of the wrong type, or a violated rule.
    """
    params = dict(params or {})
    hints = _type_hints(config_cls)
    names = [f.name for f in dataclasses.fields(config_cls) if f.init]
    try:
        for key in params:
            if key not in names:
                raise ConfigError(key, f"unknown key; known keys: {', '.join(names)}")
        kwargs = {}
        for key, value in params.items():
            parser = config_cls.parsers.get(key)
            if parser is not None and isinstance(value, str):
                kwargs[key] = parser(value)
            else:
                kwargs[key] = _coerce(key, value, hints[key])
        return config_cls(**kwargs)
    except ConfigError as exc:
        if source is None or exc.source is not None:
            raise
        raise ConfigError(exc.key, exc.reason, source) from None


def _coerce(key: str, value: object, hint: Any) -> Any:
    """`value` as type `hint` (int, float, bool, str or Optional of one), or ConfigError."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        inner = [a for a in args if a is not type(None)]
        if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
            return None
        if len(inner) != 1:
            return value
        hint = inner[0]
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(key, f"must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(key, f"must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise ConfigError(key, f"must be a number, got {value!r}") from None
        else:
            raise ConfigError(key, f"must be a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(key, f"must be finite, got {value!r}")
        return number
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(key, f"must be a string, got {value!r}")
    return value   # structured fields (e.g. children given as ChildSpecs) are checked later
