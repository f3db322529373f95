"""Risk limits: typed, validated once at load time. None means "no limit".

Three scopes, each a frozen dataclass:
- `AccountLimits` for one account (order size, position, exposure, loss, order rate);
- `StrategyLimits` for orders carrying a given `strategy_id` (caps on top of the
  account's; positions are the account's netted position in the symbol). A strategy
  not listed adds no caps;
- `FleetLimits` across every account the gate sees (exposure, loss).

`RiskConfig.from_mapping` builds the whole tree from a parsed TOML/JSON document:

    [fleet]
    max_gross_exposure = 5e6
    [account_defaults]             # for accounts not listed under [accounts]
    max_order_notional = 50_000
    [accounts.A1]                  # overrides the defaults key by key
    max_order_notional = 10_000
    [strategies.sma]
    max_position_qty = 100

Unknown keys, wrong types, negative or NaN values and failed cross-field checks raise
`ConfigError(key, reason, source)` with the dotted key path ("accounts.A1.drawdown_halt")
and the file. Without `account_defaults`, an account not listed under `accounts` is
unknown and every order it sends is denied (UNKNOWN_ACCOUNT): the gate fails closed.

Loss thresholds are fractions: 0.03 = 3 % of start-of-day equity (daily loss) or of peak
equity (drawdown). The "reduce" threshold moves trading to REDUCING, "halt" to HALTED.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.errors import ConfigError

# --- field kinds: how one value is validated -----------------------------------------------

_KINDS: dict[str, tuple[type, Callable[[Any], bool], str]] = {
    "amount": (float, lambda v: v >= 0, "a finite number >= 0"),
    "fraction": (float, lambda v: 0 < v <= 1, "a fraction in (0, 1], e.g. 0.05 for 5 %"),
    "rate": (float, lambda v: v > 0, "a finite number > 0"),
    "count": (int, lambda v: v >= 0, "an integer >= 0"),
    "burst": (int, lambda v: v >= 1, "an integer >= 1"),
}


def _limit(kind: str) -> Any:
    """An optional limit field (default None = no limit) validated as `kind`."""
    return field(default=None, metadata={"kind": kind})


def _coerce(key: str, value: object, kind: str) -> float | int | None:
    if value is None:
        return None
    typ, ok, wanted = _KINDS[kind]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, f"must be {wanted}, not {type(value).__name__} {value!r}")
    if typ is int and not isinstance(value, int):
        raise ConfigError(key, f"must be {wanted}, not {value!r}")
    if not math.isfinite(value) or not ok(value):
        raise ConfigError(key, f"must be {wanted}, not {value!r}")
    return typ(value)


def _validate(obj: object) -> None:
    """Type-check and normalise every limit field, then run the class's named checks."""
    for f in fields(obj):  # type: ignore[arg-type]
        kind = f.metadata.get("kind")
        if kind is not None:
            object.__setattr__(obj, f.name, _coerce(f.name, getattr(obj, f.name), kind))
        elif f.type in ("bool", bool) and not isinstance(getattr(obj, f.name), bool):
            raise ConfigError(f.name, f"must be true or false, not {getattr(obj, f.name)!r}")
    for check in type(obj)._checks:  # type: ignore[attr-defined]
        check(obj)


def _ordered(name: str, low_key: str, high_key: str, what: str) -> Callable[[Any], None]:
    """The cross-field check `name`: `low_key` <= `high_key` when both are set."""
    def check(obj: Any) -> None:
        low, high = getattr(obj, low_key), getattr(obj, high_key)
        if low is not None and high is not None and low > high:
            raise ConfigError(high_key, f"{high_key}={high!r} must be >= {low_key}={low!r} "
                                        f"({what}; {name})")
    check.__name__ = check.__qualname__ = name
    return check


_HALT_AFTER_REDUCE = "halting must not come before reducing"
_SOME_SIZE_PASSES = "otherwise no order size passes"
_check_daily_loss_halt_beyond_reduce = _ordered(
    "_check_daily_loss_halt_beyond_reduce", "daily_loss_reduce", "daily_loss_halt",
    _HALT_AFTER_REDUCE)
_check_drawdown_halt_beyond_reduce = _ordered(
    "_check_drawdown_halt_beyond_reduce", "drawdown_reduce", "drawdown_halt",
    _HALT_AFTER_REDUCE)
_check_max_order_qty_beyond_min = _ordered(
    "_check_max_order_qty_beyond_min", "min_order_qty", "max_order_qty", _SOME_SIZE_PASSES)
_check_max_order_notional_beyond_min = _ordered(
    "_check_max_order_notional_beyond_min", "min_order_notional", "max_order_notional",
    _SOME_SIZE_PASSES)


def _check_burst_needs_rate(obj: Any) -> None:
    if obj.order_burst is not None and obj.max_orders_per_second is None:
        raise ConfigError("order_burst", "is set but max_orders_per_second is not")


# --- the three scopes ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AccountLimits:
    """Limits of one account. Quantities in instrument units, money in account currency."""

    min_order_qty: float | None = _limit("amount")        # on top of the instrument's
    max_order_qty: float | None = _limit("amount")
    min_order_notional: float | None = _limit("amount")   # on top of the instrument's
    max_order_notional: float | None = _limit("amount")
    max_position_qty: float | None = _limit("amount")     # |position| per symbol after
    max_position_notional: float | None = _limit("amount")
    max_open_positions: int | None = _limit("count")
    max_gross_exposure: float | None = _limit("amount")   # sum |qty| x mark x multiplier
    max_net_exposure: float | None = _limit("amount")     # |sum qty x mark x multiplier|
    daily_loss_reduce: float | None = _limit("fraction")
    daily_loss_halt: float | None = _limit("fraction")
    drawdown_reduce: float | None = _limit("fraction")
    drawdown_halt: float | None = _limit("fraction")
    max_orders_per_second: float | None = _limit("rate")  # token bucket refill rate
    order_burst: int | None = _limit("burst")             # bucket size; ceil(rate) if None
    check_free_balance: bool = True                       # cash - reserved pays for buys

    _checks = (_check_max_order_qty_beyond_min, _check_max_order_notional_beyond_min,
               _check_daily_loss_halt_beyond_reduce, _check_drawdown_halt_beyond_reduce,
               _check_burst_needs_rate)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def bucket_size(self) -> int:
        if self.order_burst is not None:
            return self.order_burst
        return max(1, math.ceil(self.max_orders_per_second or 1.0))


@dataclass(frozen=True, slots=True)
class StrategyLimits:
    """Tighter caps for orders whose `strategy_id` names this strategy."""

    max_order_qty: float | None = _limit("amount")
    max_order_notional: float | None = _limit("amount")
    max_position_qty: float | None = _limit("amount")
    max_position_notional: float | None = _limit("amount")

    _checks = ()

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True, slots=True)
class FleetLimits:
    """Limits across every account the gate sees (sums of the per-account figures)."""

    max_gross_exposure: float | None = _limit("amount")
    max_net_exposure: float | None = _limit("amount")
    daily_loss_reduce: float | None = _limit("fraction")
    daily_loss_halt: float | None = _limit("fraction")
    drawdown_reduce: float | None = _limit("fraction")
    drawdown_halt: float | None = _limit("fraction")

    _checks = (_check_daily_loss_halt_beyond_reduce, _check_drawdown_halt_beyond_reduce)

    def __post_init__(self) -> None:
        _validate(self)


class OrderCaps:
    """The caps one order answers to: its account's, then its strategy's if listed.
    `above`/`below` return the detail naming the breached key, or None.

    The caps that are set are read once (limits are frozen), so a gate keeps one
    `OrderCaps` per account and strategy and a key without caps costs one dict lookup.
    `what` may hold `{sym}`, filled in only when a detail is written."""

    __slots__ = ("_above", "_below")
    _TOL = 1e-9   # relative: a value at the limit up to float noise passes

    def __init__(self, limits: AccountLimits, strategy: StrategyLimits | None,
                 strategy_id: str) -> None:
        sources: list[tuple[str, object]] = [("account", limits)]
        if strategy is not None:
            sources.append((f"strategies.{strategy_id}", strategy))
        self._above: dict[str, tuple[tuple[str, float], ...]] = {}
        for key in ("max_order_qty", "max_order_notional", "max_position_qty",
                    "max_position_notional"):
            caps = tuple((scope, getattr(source, key)) for scope, source in sources
                         if getattr(source, key, None) is not None)
            if caps:
                self._above[key] = caps
        self._below = {key: getattr(limits, key)
                       for key in ("min_order_qty", "min_order_notional")}

    def above(self, key: str, value: float, what: str, sym: str = "") -> str | None:
        for scope, cap in self._above.get(key, ()):
            if not value <= cap * (1 + self._TOL):
                return f"{what.format(sym=sym)} {value:.10g} exceeds {scope}.{key}={cap:.10g}"
        return None

    def below(self, key: str, value: float, what: str, instrument_key: str,
              instrument_min: float, sym: str = "") -> str | None:
        low = instrument_min
        if low is not None and value < low * (1 - self._TOL):
            return (f"{what} {value:.10g} is below "
                    f"instrument.{instrument_key.format(sym=sym)}={low:.10g}")
        low = self._below[key]
        if low is not None and value < low * (1 - self._TOL):
            return f"{what} {value:.10g} is below account.{key}={low:.10g}"
        return None


_SECTIONS = ("fleet", "account_defaults", "accounts", "strategies", "remembered_ids")


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Every limit the gate applies. `account_defaults=None` denies unlisted accounts."""

    fleet: FleetLimits = field(default_factory=FleetLimits)
    account_defaults: AccountLimits | None = None
    accounts: Mapping[str, AccountLimits] = field(default_factory=dict)
    strategies: Mapping[str, StrategyLimits] = field(default_factory=dict)
    remembered_ids: int = 100_000   # order / signal IDs kept per account for duplicates

    def __post_init__(self) -> None:
        _typed("fleet", self.fleet, FleetLimits)
        if self.account_defaults is not None:
            _typed("account_defaults", self.account_defaults, AccountLimits)
        for name, cls in (("accounts", AccountLimits), ("strategies", StrategyLimits)):
            table = getattr(self, name)
            if not isinstance(table, Mapping):
                raise ConfigError(name, f"must be a table, not {type(table).__name__}")
            for key, value in table.items():
                if not isinstance(key, str) or not key:
                    raise ConfigError(f"{name}.{key!r}", "must be a non-empty string")
                _typed(f"{name}.{key}", value, cls)
            object.__setattr__(self, name, MappingProxyType(dict(table)))
        _coerce("remembered_ids", self.remembered_ids, "burst")

    def limits_for(self, account_id: str) -> AccountLimits | None:
        """The account's limits, the defaults for an unlisted account, or None (unknown)."""
        return self.accounts.get(account_id, self.account_defaults)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str | None = None) -> RiskConfig:
        """A validated config from a parsed file; errors name `source` and the key path."""
        try:
            return cls._build(data)
        except ConfigError as exc:
            if source is None or exc.source is not None:
                raise
            raise ConfigError(exc.key, exc.reason, source) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RiskConfig:
        """Read a TOML (or, by extension, JSON) risk file; every error names the file."""
        source = os.fspath(path)
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise ConfigError("(file)", f"cannot read: {exc.strerror}", source) from None
        try:
            if source.endswith(".json"):
                data = json.loads(raw)
            else:
                data = tomllib.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError("(syntax)", str(exc), source) from None
        if not isinstance(data, Mapping):
            raise ConfigError("(root)", "must be a table of sections", source)
        return cls.from_mapping(data, source)

    @classmethod
    def _build(cls, data: Mapping[str, Any]) -> RiskConfig:
        _table("(root)", data, _SECTIONS)
        defaults = data.get("account_defaults")
        base = {} if defaults is None else dict(_table("account_defaults", defaults))
        default_limits = (None if defaults is None
                          else _section(AccountLimits, "account_defaults", base))
        accounts = {
            str(aid): _section(AccountLimits, f"accounts.{aid}", {**base, **_table(
                f"accounts.{aid}", raw)})
            for aid, raw in _table("accounts", data.get("accounts", {})).items()}
        strategies = {
            str(sid): _section(StrategyLimits, f"strategies.{sid}", raw)
            for sid, raw in _table("strategies", data.get("strategies", {})).items()}
        return cls(
            fleet=_section(FleetLimits, "fleet", data.get("fleet", {})),
            account_defaults=default_limits,
            accounts=accounts, strategies=strategies,
            remembered_ids=data.get("remembered_ids", 100_000))


def _typed(key: str, value: object, cls: type) -> None:
    if not isinstance(value, cls):
        raise ConfigError(key, f"must be {cls.__name__}, not {type(value).__name__}")


def _table(key: str, raw: object, known: tuple[str, ...] | None = None) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(key, f"must be a table, not {type(raw).__name__} {raw!r}")
    if known is not None:
        for name in raw:
            if name not in known:
                raise ConfigError(str(name) if key == "(root)" else f"{key}.{name}",
                                  f"unknown key; known: {', '.join(known)}")
    return raw


def _section(cls: type, key: str, raw: object) -> Any:
    """`cls(**raw)` with unknown keys and field errors reported under `key`."""
    names = tuple(f.name for f in fields(cls))
    values = _table(key, raw, names)
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{key}.{exc.key}", exc.reason) from None
