"""A run's journal in the DuckDB store: one batched writer, closed exactly once.

Paper sessions and backtests both record through it, so analytics and `phalanx report`
read every kind of run the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from data.store import Store


class Journal:
    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.writer = store.writer(run_id)
        self._equity_ts = -1

    @classmethod
    def open(cls, db: str, kind: str, config: Mapping[str, object]) -> Journal:
        store = Store.open(db)
        try:
            return cls(store, store.begin_run(kind, dict(config)))
        except BaseException:
            store.close()
            raise

    def equity(self, accounts: list, ts_ns: int) -> None:
        """One equity sample per account at `ts_ns` (bars of several symbols closing at
        the same time give one sample, not one per symbol)."""
        if ts_ns == self._equity_ts:
            return
        self._equity_ts = ts_ns
        pfs = [a.portfolio for a in accounts]
        self.writer.append("equity", {
            "account_id": np.array([a.account_id for a in accounts], dtype=object),
            "ts_ns": np.full(len(pfs), ts_ns, dtype=np.int64),
            "equity": np.array([p.equity() for p in pfs]),
            "cash": np.array([p.cash for p in pfs]),
            "realized_pnl": np.array([p.realized_pnl() for p in pfs]),
            "unrealized_pnl": np.array([p.unrealized_pnl() for p in pfs]),
            "fees": np.array([p.fees() for p in pfs])})

    def latency(self, hop: str, ts_ns: int, ns: int, account_id: str | None = None) -> None:
        """One sample of `hop`; `account_id` when the hop belongs to one account (None for
        a fleet-wide hop such as a signal's fan-out to every account)."""
        self.writer.append("latency", {"hop": np.array([hop], dtype=object),
                                       "ts_ns": np.array([ts_ns], dtype=np.int64),
                                       "ns": np.array([ns], dtype=np.int64),
                                       "account_id": np.array([account_id], dtype=object)})

    def close(self, status: str) -> None:
        try:
            self.writer.close()
            self.store.end_run(self.run_id, status)
        finally:
            self.store.close()


def both(first: Callable[[object], None],
         second: Callable[[object], None]) -> Callable[[object], None]:
    """A sink that passes each event to `first`, then `second`."""
    def call(event: object) -> None:
        first(event)
        second(event)
    return call
