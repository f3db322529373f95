"""Turning a signal into a quantity: the account's sizing settings.

This is the plain-Python sizer for one account and one signal. The risk package provides
a Numba kernel that sizes one signal across a whole fleet in one call; both follow the
rules below and are held equal by tests.

Rules: the raw size comes from the mode; it is rounded toward zero onto the instrument's
quantity step; a result below the instrument's minimum quantity or minimum notional is
zero with a reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from engine.enums import DenyReason
from engine.errors import ConfigError, config_number
from engine.instruments import Instrument


class SizingMode(str, Enum):
    FIXED_QUANTITY = "fixed"
    FIXED_NOTIONAL = "notional"
    PERCENT_EQUITY = "percent"
    ALL_CASH = "all-in"


@dataclass(frozen=True, slots=True)
class SizingConfig:
    mode: SizingMode = SizingMode.PERCENT_EQUITY
    quantity: float = 0.0      # FIXED_QUANTITY
    notional: float = 0.0      # FIXED_NOTIONAL, in account currency
    percent: float = 10.0      # PERCENT_EQUITY, 0 < percent <= 100

    def __post_init__(self) -> None:
        try:
            mode = SizingMode(self.mode)
        except ValueError:
            raise ConfigError("sizing.mode", f"{self.mode!r} is not one of "
                              f"{[m.value for m in SizingMode]}") from None
        object.__setattr__(self, "mode", mode)
        if mode is SizingMode.FIXED_QUANTITY:
            config_number("sizing.quantity", self.quantity, above=0.0)
        elif mode is SizingMode.FIXED_NOTIONAL:
            config_number("sizing.notional", self.notional, above=0.0)
        elif mode is SizingMode.PERCENT_EQUITY:
            config_number("sizing.percent", self.percent, above=0.0)
            if self.percent > 100:
                raise ConfigError("sizing.percent", f"{self.percent} is above 100")


def size_order(cfg: SizingConfig, instrument: Instrument, price: float, equity: float,
               cash: float) -> tuple[float, DenyReason | None]:
    """Quantity to open at `price`, or (0, reason) when nothing can be opened."""
    if not (math.isfinite(price) and price > 0):
        return 0.0, DenyReason.INVALID_PRICE
    unit_value = price * instrument.multiplier
    if cfg.mode is SizingMode.FIXED_QUANTITY:
        raw = cfg.quantity
    elif cfg.mode is SizingMode.FIXED_NOTIONAL:
        raw = cfg.notional / unit_value
    elif cfg.mode is SizingMode.PERCENT_EQUITY:
        raw = max(equity, 0.0) * cfg.percent / 100.0 / unit_value
    else:
        taker = max(instrument.fees.taker_bps, 0.0) * 1e-4
        raw = max(cash - instrument.fees.per_order, 0.0) / (
            unit_value * (1.0 + taker) + instrument.fees.per_unit)
    qty = instrument.floor_qty(raw) if math.isfinite(raw) else 0.0
    if qty <= 0 or qty < instrument.min_qty:
        return 0.0, DenyReason.BELOW_MIN_QUANTITY
    if instrument.notional(qty, price) < instrument.min_notional:
        return 0.0, DenyReason.BELOW_MIN_NOTIONAL
    return qty, None
