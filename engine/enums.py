"""Enumerations of the trading domain.

Integer-valued enums serialise as their value under orjson and compare fast; string-valued
ones are used where the value is shown to people (sides, types) and stays readable in JSON.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class OrderSide(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    sign: int   # +1 for a buy, -1 for a sell: the sign of the quantity change

    def __init__(self, value: str) -> None:
        # a plain attribute of each member, set once: it is read on every order, and a
        # property reading OrderSide.BUY costs ~0.2 us a read on Python 3.11
        self.sign = 1 if value == "BUY" else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(str, Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(str, Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    DAY = "DAY"


class OrderStatus(str, Enum):
    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Working at the venue: it may still fill."""
        return self in _OPEN


_TERMINAL = frozenset(
    {OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.FILLED, OrderStatus.CANCELED,
     OrderStatus.EXPIRED}
)
_OPEN = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED,
     OrderStatus.PENDING_CANCEL}
)


class SignalSide(str, Enum):
    """What a strategy wants the account's position to be."""

    LONG = "LONG"
    SHORT = "SHORT"
    FLAT = "FLAT"


class LiquiditySide(str, Enum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class ErrorCode(str, Enum):
    """Why a broker said no. Every adapter maps its venue's errors onto these."""

    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    AUTH_ERROR = "AUTH_ERROR"
    INVALID_ORDER = "INVALID_ORDER"
    SESSION_EXPIRED = "SESSION_EXPIRED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    TIMEOUT = "TIMEOUT"
    VENUE_ERROR = "VENUE_ERROR"

    @property
    def retryable(self) -> bool:
        """Safe to send again with the same client order ID (after re-login if needed)."""
        return self in _RETRYABLE


_RETRYABLE = frozenset(
    {ErrorCode.SESSION_EXPIRED, ErrorCode.SESSION_NOT_FOUND, ErrorCode.RATE_LIMITED,
     ErrorCode.TIMEOUT, ErrorCode.VENUE_ERROR}
)


class DenyReason(str, Enum):
    """Why an order never left the account (pre-trade checks, sizing, state)."""

    INVALID_SIGNAL = "INVALID_SIGNAL"
    UNKNOWN_INSTRUMENT = "UNKNOWN_INSTRUMENT"
    NO_PRICE = "NO_PRICE"
    INVALID_PRICE = "INVALID_PRICE"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    BELOW_MIN_QUANTITY = "BELOW_MIN_QUANTITY"
    ABOVE_MAX_QUANTITY = "ABOVE_MAX_QUANTITY"
    BELOW_MIN_NOTIONAL = "BELOW_MIN_NOTIONAL"
    ABOVE_MAX_NOTIONAL = "ABOVE_MAX_NOTIONAL"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    MAX_POSITION = "MAX_POSITION"
    MAX_OPEN_POSITIONS = "MAX_OPEN_POSITIONS"
    MAX_EXPOSURE = "MAX_EXPOSURE"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    MAX_DRAWDOWN = "MAX_DRAWDOWN"
    RATE_LIMIT = "RATE_LIMIT"
    DUPLICATE_ID = "DUPLICATE_ID"
    REDUCE_ONLY = "REDUCE_ONLY"
    TRADING_HALTED = "TRADING_HALTED"
    NOT_CONNECTED = "NOT_CONNECTED"
    NOTHING_TO_DO = "NOTHING_TO_DO"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"    # no risk limits for the account: fail closed
    KILL_SWITCH = "KILL_SWITCH"            # a kill switch (account or fleet) is on


class ExitReason(IntEnum):
    """Why a protective exit fired. Integer-coded so Numba kernels can return it."""

    NONE = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING_STOP = 3
    MAX_HOLDING_TIME = 4
    BREAK_EVEN = 5
    SIGNAL = 6
    MANUAL = 7


class SessionState(str, Enum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTED = "CONNECTED"
    BACKOFF = "BACKOFF"
    FAILED = "FAILED"


class TradingState(str, Enum):
    """What the risk gate lets through for an account or the whole fleet."""

    ACTIVE = "ACTIVE"        # every check applies, nothing more
    REDUCING = "REDUCING"    # only orders that reduce a position pass
    HALTED = "HALTED"        # only reduce-only orders pass

    @property
    def rank(self) -> int:
        return _STATE_RANK[self]


_STATE_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class StateCause(str, Enum):
    DAILY_LOSS = "DAILY_LOSS"
    DRAWDOWN = "DRAWDOWN"
    KILL_SWITCH = "KILL_SWITCH"
    NEW_DAY = "NEW_DAY"      # the daily loss latch cleared at a new UTC day
    RESET = "RESET"          # drawdown reset, or kill switch released
