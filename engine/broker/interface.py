"""The one async interface every broker adapter implements, and its typed results.

Adapters never raise for a refusal the venue makes in the normal course of trading: they
return a `BrokerResult` whose `code` says why. Exceptions from an adapter mean a bug in the
adapter; the account treats them like `ErrorCode.VENUE_ERROR`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from engine.enums import ErrorCode, OrderSide, OrderStatus, OrderType, TimeInForce
from engine.messages import ModifyOrder, SubmitOrder, message

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Login material. Its repr never shows the secret parts."""

    account_id: str
    api_key: str = field(repr=False, default="")
    secret: str = field(repr=False, default="")

    def __repr__(self) -> str:
        return f"Credentials(account_id={self.account_id!r}, api_key=***, secret=***)"


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in session. The token is a credential: never logged or stored."""

    account_id: str
    token: str = field(repr=False)
    expires_ns: int

    def __repr__(self) -> str:
        return f"Session(account_id={self.account_id!r}, token=***, expires_ns={self.expires_ns})"


@message   # built on every broker reply: the slot-setting __init__
class BrokerResult(Generic[T]):
    value: T | None = None
    code: ErrorCode | None = None
    detail: str = ""
    retry_after_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.code is None

    @staticmethod
    def success(value: T) -> BrokerResult[T]:
        return BrokerResult(value=value)

    @staticmethod
    def failure(code: ErrorCode, detail: str, retry_after_s: float = 0.0) -> BrokerResult[T]:
        return BrokerResult(code=code, detail=detail, retry_after_s=retry_after_s)


@message   # built on every broker reply: the slot-setting __init__
class FillReport:
    trade_id: str
    quantity: float
    price: float
    fee: float
    ts_ns: int


@message   # built on every broker reply: the slot-setting __init__
class OrderReport:
    """The broker's view of one order, including every fill it has made."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: float
    status: OrderStatus
    filled_qty: float = 0.0
    avg_px: float = 0.0
    price: float | None = None
    trigger_price: float | None = None
    fills: tuple[FillReport, ...] = ()
    reject_code: ErrorCode | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PositionReport:
    symbol: str
    quantity: float
    avg_price: float


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    cash: float
    equity: float
    reserved: float = 0.0


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    latency_ms: float
    detail: str = ""


class Broker(ABC):
    """A venue, seen by one process. One instance serves many sessions (accounts).

    Every order method is idempotent by client order ID: a submit repeated with an ID
    the broker already knows returns that order's report and sends nothing.
    """

    name: str = "abstract"

    @abstractmethod
    async def login(self, credentials: Credentials) -> BrokerResult[Session]: ...

    @abstractmethod
    async def refresh(self, session: Session) -> BrokerResult[Session]: ...

    @abstractmethod
    async def logout(self, session: Session) -> BrokerResult[None]: ...

    @abstractmethod
    async def health(self) -> BrokerResult[Health]: ...

    @abstractmethod
    async def submit(self, session: Session, command: SubmitOrder) -> BrokerResult[OrderReport]:
        ...

    @abstractmethod
    async def cancel(self, session: Session, client_order_id: str) -> BrokerResult[OrderReport]:
        ...

    @abstractmethod
    async def modify(self, session: Session, command: ModifyOrder) -> BrokerResult[OrderReport]:
        ...

    @abstractmethod
    async def order_status(self, session: Session,
                           client_order_id: str) -> BrokerResult[OrderReport]: ...

    @abstractmethod
    async def open_orders(self, session: Session) -> BrokerResult[list[OrderReport]]: ...

    @abstractmethod
    async def positions(self, session: Session) -> BrokerResult[list[PositionReport]]: ...

    @abstractmethod
    async def balances(self, session: Session) -> BrokerResult[list[Balance]]: ...

    @abstractmethod
    async def drain_events(self, session: Session) -> BrokerResult[list[object]]:
        """Execution events (`OrderAccepted`, `OrderFilled`, `OrderCanceled`, `OrderExpired`,
        `OrderRejected`, `OrderUpdated`, `OrderCancelRejected`) for this session's orders
        since the previous call, oldest first. Each event is delivered once; a fill keeps
        its `trade_id` so a consumer that sees it twice (after reconciliation) drops it."""
