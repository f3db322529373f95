"""`SimBroker`: the simulated venue behind the async `Broker` interface ("sim").

Sessions: `login` checks the account's `api_key` and `secret` (AUTH_ERROR otherwise) and
returns a session whose token expires `token_ttl_s` seconds later by the broker's clock.
After that every call with it returns SESSION_EXPIRED; a token unknown, logged out or
replaced by `refresh` returns SESSION_NOT_FOUND. `refresh` of a live session returns a new
token and revokes the old one. Events are queued per account: any live session of the
account drains them. No credential or token ever appears in a detail, repr or exception.

Each call (except `health`) first sleeps the seeded latency, then draws a seeded fault
(`engine.sim.faults`); a TIMEOUT on submit, cancel or modify can come after the venue
acted. Market data goes in synchronously through `on_quote`, `on_trade` and `on_bar`.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.broker.interface import (
    Balance,
    Broker,
    BrokerResult,
    Credentials,
    Health,
    OrderReport,
    PositionReport,
    Session,
)
from engine.broker.registry import register_broker
from engine.clock import NANOS_PER_SECOND, Clock, LiveClock
from engine.enums import ErrorCode
from engine.errors import ConfigError, InvalidInput
from engine.instruments import FeeSchedule, Instrument
from engine.messages import Bar, ModifyOrder, QuoteTick, SubmitOrder, TradeTick
from engine.sim.account import SimAccount
from engine.sim.faults import Fault, FaultConfig, FaultInjector, LatencyModel
from engine.sim.models import FillModel
from engine.sim.venue import SimVenue

_TIMEOUT_DETAIL = "no reply from the venue in time; the request may or may not have been executed"
_MUTATING = frozenset({"submit", "cancel", "modify"})
# Bound once: reading a member off an Enum class costs ~80 ns on Python 3.11 (its
# metaclass defines __getattr__), and every broker call checks for a fault.
_NO_FAULT, _EXPIRE_SESSION = Fault.NONE, Fault.EXPIRE_SESSION


@dataclass(slots=True)
class _SessionRecord:
    account_id: str
    expires_ns: int


class SimBroker(Broker):
    """A simulated venue for paper trading and backtests. See the module docstring."""

    name = "sim"

    def __init__(self, instruments: Iterable[Instrument], accounts: Mapping[str, SimAccount],
                 clock: Clock | None = None, fill_model: FillModel | None = None,
                 latency: LatencyModel | None = None, faults: FaultConfig | None = None,
                 token_ttl_s: float = 3600.0) -> None:
        if not (isinstance(token_ttl_s, (int, float)) and math.isfinite(token_ttl_s)
                and token_ttl_s > 0):
            raise ConfigError("token_ttl_s", f"must be a number > 0, not {token_ttl_s!r}")
        self.clock: Clock = clock or LiveClock()
        self.venue = SimVenue(instruments, accounts, self.clock, fill_model)
        self._keys = {aid: (a.api_key, a.secret) for aid, a in accounts.items()}
        self._ttl_ns = int(token_ttl_s * NANOS_PER_SECOND)
        self._sessions: dict[str, _SessionRecord] = {}
        self._prune_at = 1024
        self._faults = FaultInjector(faults or FaultConfig())
        self._latency = (latency or LatencyModel()).sampler()

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Replace the fault injection (None turns it off), e.g. to let a run settle."""
        self._faults = FaultInjector(faults or FaultConfig())

    def __repr__(self) -> str:
        return (f"SimBroker(instruments={len(self.venue.instruments)}, "
                f"accounts={len(self._keys)}, sessions={len(self._sessions)})")

    # --- market data (synchronous) ----------------------------------------------------------
    def on_quote(self, quote: QuoteTick) -> None:
        self.venue.on_quote(quote)

    def on_trade(self, trade: TradeTick) -> None:
        self.venue.on_trade(trade)

    def on_bar(self, bar: Bar) -> None:
        self.venue.on_bar(bar)

    def on_open(self, bar: Bar) -> None:
        self.venue.on_open(bar)

    # --- sessions ---------------------------------------------------------------------------
    async def login(self, credentials: Credentials) -> BrokerResult[Session]:
        _, refused = await self._enter("login")
        if refused is not None:
            return refused
        if not isinstance(credentials, Credentials):
            return BrokerResult.failure(ErrorCode.AUTH_ERROR, "login needs Credentials")
        keys = self._keys.get(credentials.account_id) if isinstance(
            credentials.account_id, str) else None
        if keys is None:  # the unknown name is not echoed: it may be a pasted secret
            return BrokerResult.failure(ErrorCode.AUTH_ERROR,
                                        "invalid credentials: unknown account")
        if not (_same(keys[0], credentials.api_key) and _same(keys[1], credentials.secret)):
            return BrokerResult.failure(
                ErrorCode.AUTH_ERROR, f"invalid credentials for account {credentials.account_id!r}")
        now = self.clock.now_ns()
        if len(self._sessions) >= self._prune_at:  # forget long-dead tokens, amortised O(1)
            self._sessions = {t: r for t, r in self._sessions.items()
                              if r.expires_ns + self._ttl_ns > now}
            self._prune_at = max(1024, 2 * len(self._sessions))
        return BrokerResult.success(self._open_session(credentials.account_id, now))

    async def refresh(self, session: Session) -> BrokerResult[Session]:
        _, refused = await self._enter("refresh", session)
        if refused is not None:
            return refused
        self._sessions.pop(session.token, None)
        return BrokerResult.success(self._open_session(session.account_id, self.clock.now_ns()))

    async def logout(self, session: Session) -> BrokerResult[None]:
        _, refused = await self._enter("logout")
        if refused is not None:
            return refused
        token = session.token if isinstance(session, Session) else None
        record = self._sessions.get(token) if isinstance(token, str) else None
        if record is None or record.account_id != session.account_id:
            return BrokerResult.failure(ErrorCode.SESSION_NOT_FOUND, "no such session")
        del self._sessions[token]  # type: ignore[arg-type]
        return BrokerResult.success(None)

    async def health(self) -> BrokerResult[Health]:
        delay = self._latency.next_s()
        await asyncio.sleep(delay)
        return BrokerResult.success(Health(True, delay * 1000.0,
                                           f"{len(self._sessions)} sessions"))

    def _open_session(self, account_id: str, now: int) -> Session:
        token = secrets.token_urlsafe(24)
        record = _SessionRecord(account_id, now + self._ttl_ns)
        self._sessions[token] = record
        return Session(account_id, token, record.expires_ns)

    # --- orders -----------------------------------------------------------------------------
    async def submit(self, session: Session, command: SubmitOrder) -> BrokerResult[OrderReport]:
        return await self._call("submit", session, lambda a: self.venue.submit(a, command))

    async def cancel(self, session: Session, client_order_id: str) -> BrokerResult[OrderReport]:
        return await self._call("cancel", session,
                                lambda a: self.venue.cancel(a, client_order_id))

    async def modify(self, session: Session, command: ModifyOrder) -> BrokerResult[OrderReport]:
        return await self._call("modify", session, lambda a: self.venue.modify(a, command))

    async def order_status(self, session: Session,
                           client_order_id: str) -> BrokerResult[OrderReport]:
        return await self._call("order_status", session,
                                lambda a: self.venue.order_status(a, client_order_id))

    async def open_orders(self, session: Session) -> BrokerResult[list[OrderReport]]:
        return await self._call("open_orders", session,
                                lambda a: BrokerResult.success(self.venue.open_orders(a)))

    async def positions(self, session: Session) -> BrokerResult[list[PositionReport]]:
        return await self._call("positions", session,
                                lambda a: BrokerResult.success(self.venue.positions(a)))

    async def balances(self, session: Session) -> BrokerResult[list[Balance]]:
        return await self._call("balances", session,
                                lambda a: BrokerResult.success(self.venue.balances(a)))

    async def drain_events(self, session: Session) -> BrokerResult[list[object]]:
        return await self._call("drain_events", session,
                                lambda a: BrokerResult.success(self.venue.drain(a)))

    # --- plumbing ---------------------------------------------------------------------------
    async def _call(self, op: str, session: Session,
                    action: Callable[[str], BrokerResult[Any]]) -> BrokerResult[Any]:
        """Latency, fault, session check, then the venue. A TIMEOUT_AFTER fault on submit,
        cancel or modify drops the reply of a venue call that did happen."""
        fault, refused = await self._enter(op, session)
        if refused is not None:
            return refused
        result = action(session.account_id)
        if fault is Fault.TIMEOUT_AFTER:
            return BrokerResult.failure(ErrorCode.TIMEOUT, _TIMEOUT_DETAIL)
        return result

    async def _enter(self, op: str, session: Session | None = None
                     ) -> tuple[Fault, BrokerResult[Any] | None]:
        """Sleep, draw a fault, check the session (unless `op` needs none). A result in
        the pair means: stop and return it. The fault is TIMEOUT_AFTER only for `_MUTATING`
        ops that may go ahead."""
        await asyncio.sleep(self._latency.next_s())
        fault = self._faults.draw()
        if fault is not _NO_FAULT:   # the common case skips the fault checks
            if fault is Fault.TIMEOUT_AFTER and op not in _MUTATING:
                fault = Fault.TIMEOUT_BEFORE
            if fault is Fault.TIMEOUT_BEFORE:
                return fault, BrokerResult.failure(ErrorCode.TIMEOUT, _TIMEOUT_DETAIL)
            if fault is Fault.VENUE_ERROR:
                return fault, BrokerResult.failure(ErrorCode.VENUE_ERROR,
                                                   "simulated venue error")
            if fault is Fault.RATE_LIMITED:
                return fault, BrokerResult.failure(ErrorCode.RATE_LIMITED, "too many requests",
                                                   self._faults.config.retry_after_s)
        if op in ("login", "logout"):
            return fault, None
        record = self._session_record(session)
        if record is None:
            return fault, BrokerResult.failure(ErrorCode.SESSION_NOT_FOUND,
                                               "no such session; log in")
        now = self.clock.now_ns()
        if fault is _EXPIRE_SESSION:
            record.expires_ns = min(record.expires_ns, now)
        if now >= record.expires_ns:
            return fault, BrokerResult.failure(
                ErrorCode.SESSION_EXPIRED,
                f"session of account {record.account_id!r} expired; log in again")
        return fault, None

    def _session_record(self, session: object) -> _SessionRecord | None:
        if not isinstance(session, Session) or not isinstance(session.token, str):
            return None
        record = self._sessions.get(session.token)
        if record is None or record.account_id != session.account_id:
            return None
        return record


def _same(expected: str, given: object) -> bool:
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


# --- the registry factory ------------------------------------------------------------------

_OPTIONS = {"instruments", "accounts", "clock", "fill_model", "latency", "faults",
            "token_ttl_s"}


@register_broker("sim")
def create_sim_broker(**options: Any) -> SimBroker:
    """`SimBroker` from plain options: instruments as `Instrument`s or dicts (with `fees`
    as a dict), accounts as `SimAccount`s or dicts, fill_model/latency/faults as objects or
    dicts of their fields. Unknown keys raise ConfigError."""
    for key in options:
        if key not in _OPTIONS:
            raise ConfigError(f"sim.{key}", f"unknown option; known: {sorted(_OPTIONS)}")
    instruments = [_instrument(i, x) for i, x in enumerate(options.get("instruments", ()))]
    accounts = {aid: a if isinstance(a, SimAccount) else SimAccount.from_options(aid, a)
                for aid, a in dict(options.get("accounts", {})).items()}
    fill = options.get("fill_model")
    fill = FillModel.from_options(fill) if isinstance(fill, Mapping) else fill
    latency = _build(LatencyModel, "latency", options.get("latency"))
    faults = _build(FaultConfig, "faults", options.get("faults"))
    return SimBroker(instruments, accounts, options.get("clock"), fill, latency, faults,
                     options.get("token_ttl_s", 3600.0))


def _instrument(index: int, raw: object) -> Instrument:
    if isinstance(raw, Instrument):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError(f"instruments[{index}]", "must be an Instrument or a mapping")
    fields = dict(raw)
    try:
        if isinstance(fields.get("fees"), Mapping):
            fields["fees"] = FeeSchedule(**fields["fees"])
        return Instrument(**fields)
    except (TypeError, InvalidInput) as exc:
        raise ConfigError(f"instruments[{index}]", str(exc)) from exc


def _build(cls: type, key: str, raw: object) -> Any:
    if raw is None or isinstance(raw, cls):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError(key, f"must be a {cls.__name__} or a mapping")
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(key, str(exc)) from exc
