"""One account's broker session: login, refresh before expiry, re-login with backoff.

`BrokerSession.call(method, ...)` is how the account talks to its broker: it makes sure a
valid session exists, calls the broker, and on SESSION_EXPIRED / SESSION_NOT_FOUND logs in
again and repeats the call once. Everything else is returned to the caller to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from engine.broker.interface import Broker, BrokerResult, Credentials, Health, Session
from engine.clock import NANOS_PER_SECOND, Clock
from engine.enums import ErrorCode, SessionState
from engine.errors import BrokerUnavailable, ConfigError
from engine.messages import SessionChanged

_SESSION_LOST = (ErrorCode.SESSION_EXPIRED, ErrorCode.SESSION_NOT_FOUND)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    refresh_margin_s: float = 30.0   # refresh this long before the token expires
    backoff_initial_s: float = 0.25  # first wait after a failed login
    backoff_max_s: float = 30.0      # waits double up to this cap
    max_login_attempts: int = 8      # then the session is FAILED

    def __post_init__(self) -> None:
        for key in ("refresh_margin_s", "backoff_initial_s", "backoff_max_s"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"session.{key}", f"{value!r} must be a number >= 0")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ConfigError("session.backoff_max_s",
                              f"{self.backoff_max_s} is below backoff_initial_s")
        if not isinstance(self.max_login_attempts, int) or self.max_login_attempts < 1:
            raise ConfigError("session.max_login_attempts",
                              f"{self.max_login_attempts!r} must be an integer >= 1")

    def backoff_s(self, attempt: int) -> float:
        """Wait before login attempt `attempt` (0-based): 0, then doubling up to the cap."""
        if attempt == 0:
            return 0.0
        return min(self.backoff_initial_s * 2 ** (attempt - 1), self.backoff_max_s)


class BrokerSession:
    def __init__(self, broker: Broker, credentials: Credentials, clock: Clock,
                 config: SessionConfig | None = None,
                 on_event: Callable[[SessionChanged], None] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.broker = broker
        self.account_id = credentials.account_id
        self._credentials = credentials
        self.clock = clock
        self.config = config or SessionConfig()
        self.state = SessionState.DISCONNECTED
        self.session: Session | None = None
        self.logins = 0
        self.refreshes = 0
        self._on_event = on_event
        self.sleep = sleep
        self._lock = asyncio.Lock()
        self._contenders = 0   # tasks holding or waiting for `_lock`

    def __repr__(self) -> str:
        return f"BrokerSession({self.account_id!r}, {self.broker.name}, {self.state.value})"

    # --- lifecycle ------------------------------------------------------------------------
    async def login(self) -> Session:
        """Log in, retrying with exponential backoff. Raises BrokerUnavailable after the
        configured number of attempts (state FAILED) or at once on AUTH_ERROR."""
        async with self._exclusive():
            return await self._login_locked()

    async def _login_locked(self) -> Session:
        last = "no attempt"
        for attempt in range(self.config.max_login_attempts):
            wait = self.config.backoff_s(attempt)
            if wait:
                self._set_state(SessionState.BACKOFF, f"attempt {attempt + 1} in {wait:.3g}s")
                await self.sleep(wait)
            result = await self._safe(self.broker.login, self._credentials)
            if result.ok:
                self.session = result.value
                self.logins += 1
                self._set_state(SessionState.CONNECTED, f"login #{self.logins}")
                return self.session  # type: ignore[return-value]
            last = f"{result.code.value}: {result.detail}"  # type: ignore[union-attr]
            if result.code is ErrorCode.AUTH_ERROR:
                break
        self.session = None
        self._set_state(SessionState.FAILED, last)
        raise BrokerUnavailable(f"account {self.account_id}: login failed ({last})")

    async def logout(self) -> None:
        async with self._exclusive():
            if self.session is not None:
                await self._safe(self.broker.logout, self.session)
            self.session = None
            self._set_state(SessionState.DISCONNECTED, "logout")

    async def ensure(self) -> Session:
        """A session valid for at least the refresh margin: refresh or log in as needed."""
        session = self._current()
        if session is not None:
            return session
        async with self._exclusive():
            session = self.session
            if session is None:
                return await self._login_locked()
            if self._fresh(session):
                return session
            result = await self._safe(self.broker.refresh, session)
            if result.ok:
                self.session = result.value
                self.refreshes += 1
                return self.session  # type: ignore[return-value]
            return await self._login_locked()

    async def health(self) -> BrokerResult[Health]:
        return await self._safe(self.broker.health)

    # --- calls ----------------------------------------------------------------------------
    async def call(self, method: Callable[..., Awaitable[BrokerResult[Any]]],
                   *args: Any) -> BrokerResult[Any]:
        """`method(session, *args)` with a valid session; one re-login on a lost session."""
        session = self._current() or await self.ensure()
        result = await self._safe(method, session, *args)
        if result.code in _SESSION_LOST:
            async with self._exclusive():
                if self.session is session:   # nobody re-logged in meanwhile
                    self.session = None
            session = await self.ensure()
            result = await self._safe(method, session, *args)
        return result

    def _fresh(self, session: Session) -> bool:
        margin = int(self.config.refresh_margin_s * NANOS_PER_SECOND)
        return self.clock.now_ns() < session.expires_ns - margin

    def _current(self) -> Session | None:
        """The session when `ensure` would return it at once (valid beyond the refresh
        margin, and nobody holds or waits for the lock), else None. Spares every call
        the lock's round trip."""
        session = self.session
        if session is None or self._contenders or not self._fresh(session):
            return None
        return session

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """`_lock`, counted in `_contenders` from the wait until the release."""
        self._contenders += 1
        try:
            async with self._lock:
                yield
        finally:
            self._contenders -= 1

    @staticmethod
    async def _safe(method: Callable[..., Awaitable[BrokerResult[Any]]],
                    *args: Any) -> BrokerResult[Any]:
        """An adapter that raises is treated as a venue error, never crashes the caller."""
        try:
            return await method(*args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the adapter's bug, contained here
            return BrokerResult.failure(ErrorCode.VENUE_ERROR,
                                        f"adapter raised {type(exc).__name__}")

    def _set_state(self, state: SessionState, detail: str) -> None:
        self.state = state
        if self._on_event is not None:
            now = self.clock.now_ns()
            self._on_event(SessionChanged(self.account_id, state, detail, now, now))
