"""One small error hierarchy. Each docstring says what the caller should do.

Risk denials are not exceptions: they are `OrderDenied` events. Broker refusals in the
normal course of trading are `BrokerResult`s with an `ErrorCode`. Exceptions are for
programming errors, bad input at the edges (config, files, wrong types) and for adapters
that cannot even produce a result.
"""

from __future__ import annotations

import math


class PhalanxError(Exception):
    """Base of every error Phalanx raises on purpose."""


class InvalidInput(PhalanxError, ValueError):
    """A value given to Phalanx is malformed (NaN, negative, wrong type, unknown name).

    Fix the input; retrying the same call fails the same way. The message names the field
    and the value.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


class ConfigError(PhalanxError, ValueError):
    """A configuration file or mapping is invalid. Fix the file; nothing was started.

    The message names the file (when there is one), the key and the reason.
    """

    def __init__(self, key: str, reason: str, source: str | None = None) -> None:
        self.key = key
        self.reason = reason
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {reason}")


def config_number(key: str, value: object, *, minimum: float | None = None,
                  above: float | None = None) -> float:
    """`value` as a float, or ConfigError naming `key` when it is not a finite number
    (bools excluded), is below `minimum` or is not above `above`."""
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not math.isfinite(value)):
        raise ConfigError(key, f"must be a finite number, not {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(key, f"must be >= {minimum:g}, not {value!r}")
    if above is not None and value <= above:
        raise ConfigError(key, f"must be > {above:g}, not {value!r}")
    return float(value)


class InvalidStateTransition(PhalanxError):
    """An order was asked to move to a state it cannot reach from where it is.

    The order is left unchanged. This signals an out-of-order or duplicate event from a
    venue, or a bug: log it, reconcile the order with the broker, do not retry blindly.
    """

    def __init__(self, client_order_id: str, current: object, event: str) -> None:
        self.client_order_id = client_order_id
        self.current = current
        self.event = event
        super().__init__(f"order {client_order_id}: cannot apply {event} in state {current}")


class UnknownName(PhalanxError, KeyError):
    """A name looked up in a registry (broker, strategy, symbol, account) does not exist.

    Fix the name; the message lists the names that do exist.
    """

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(sorted(self.known))}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class BrokerUnavailable(PhalanxError):
    """The broker could not be reached or logged into after every retry.

    Stop sending orders on this account; the session retries in the background. Orders
    already sent must be reconciled with `order_status` before anything is resent.
    """
