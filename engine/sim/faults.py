"""Seeded latency and fault injection for the simulated broker.

Everything random here comes from `random.Random(seed)`, so the same seed and the same
sequence of broker calls give the same delays and the same faults, run after run.

Every broker call (except `health`) draws exactly one `Fault`, whatever the rates, so
changing one rate never shifts the draws of later calls. How the broker reads a draw:

- TIMEOUT_BEFORE: the request never reached the venue; nothing happened.
- TIMEOUT_AFTER: the venue acted (order accepted and possibly filled, canceled, modified)
  but the reply was lost: the caller sees TIMEOUT. Only for submit, cancel and modify;
  any other call treats it as TIMEOUT_BEFORE. The caller must reconcile
  (`order_status`) or resend with the same client order ID, which never doubles an order.
- VENUE_ERROR, RATE_LIMITED: refused before reaching the venue.
- EXPIRE_SESSION: the session expires now (SESSION_EXPIRED); log in again. Calls without
  a session (login, logout) ignore it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import Enum

from engine.errors import ConfigError


class Fault(str, Enum):
    NONE = "NONE"
    TIMEOUT_BEFORE = "TIMEOUT_BEFORE"
    TIMEOUT_AFTER = "TIMEOUT_AFTER"
    VENUE_ERROR = "VENUE_ERROR"
    RATE_LIMITED = "RATE_LIMITED"
    EXPIRE_SESSION = "EXPIRE_SESSION"


_NO_FAULT = Fault.NONE   # bound once: an Enum class attribute costs ~80 ns on 3.11


def _rate(name: str, x: object) -> float:
    if (not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x)
            or not 0.0 <= x <= 1.0):
        raise ConfigError(name, f"must be a probability in [0, 1], not {x!r}")
    return float(x)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Probabilities, per call, of each fault. Their sum must not exceed 1.

    `timeout_after_share` is the share of timeouts on submit/cancel/modify that happen
    after the venue acted. `retry_after_s` is what a RATE_LIMITED result advises.
    """

    seed: int = 0
    timeout_rate: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    expire_rate: float = 0.0
    timeout_after_share: float = 0.5
    retry_after_s: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError("faults.seed", f"must be an int, not {self.seed!r}")
        total = 0.0
        for name in ("timeout_rate", "error_rate", "rate_limit_rate", "expire_rate"):
            total += _rate(f"faults.{name}", getattr(self, name))
        if total > 1.0 + 1e-12:
            raise ConfigError("faults", f"the rates add up to {total}, more than 1")
        _rate("faults.timeout_after_share", self.timeout_after_share)
        r = self.retry_after_s
        if not isinstance(r, (int, float)) or not math.isfinite(r) or r < 0:
            raise ConfigError("faults.retry_after_s", f"must be >= 0, not {r!r}")

    @property
    def active(self) -> bool:
        return (self.timeout_rate + self.error_rate + self.rate_limit_rate
                + self.expire_rate) > 0


class FaultInjector:
    """Draws one `Fault` per call from a generator seeded with `config.seed`.

    The config is fixed for the injector's life (`SimBroker.set_faults` makes a new one).
    With every rate at 0 every draw is NONE, so the generator is not consulted at all.
    """

    __slots__ = ("config", "_rng", "_active", "drawn")

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._active = config.active
        self.drawn = 0

    def draw(self) -> Fault:
        if not self._active:
            self.drawn += 1
            return _NO_FAULT
        c = self.config
        u, phase = self._rng.random(), self._rng.random()  # always two numbers per call
        self.drawn += 1
        edge = c.timeout_rate
        if u < edge:
            return Fault.TIMEOUT_AFTER if phase < c.timeout_after_share else Fault.TIMEOUT_BEFORE
        for rate, fault in ((c.error_rate, Fault.VENUE_ERROR),
                            (c.rate_limit_rate, Fault.RATE_LIMITED),
                            (c.expire_rate, Fault.EXPIRE_SESSION)):
            edge += rate
            if u < edge:
                return fault
        return Fault.NONE


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """A delay per call, uniform in [min_ms, max_ms], from its own seeded generator.

    The default (0, 0) adds no delay beyond one yield to the event loop.
    """

    min_ms: float = 0.0
    max_ms: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("min_ms", "max_ms"):
            x = getattr(self, name)
            if not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
                raise ConfigError(f"latency.{name}", f"must be a number >= 0, not {x!r}")
        if self.max_ms < self.min_ms:
            raise ConfigError("latency.max_ms", f"{self.max_ms} is below min_ms {self.min_ms}")

    def sampler(self) -> LatencySampler:
        return LatencySampler(self)


class LatencySampler:
    """Draws delays for one broker; the same seed gives the same delays."""

    __slots__ = ("model", "_rng")

    def __init__(self, model: LatencyModel) -> None:
        self.model = model
        self._rng = random.Random(model.seed)

    def next_s(self) -> float:
        m = self.model
        if m.max_ms == 0:
            return 0.0
        return self._rng.uniform(m.min_ms, m.max_ms) / 1000.0
