"""`KernelExitPolicy`: the `engine.exits.ExitPolicy` seam backed by `trail_and_exit_nb`.

An account keeps its protections as `engine.exits.Protection` objects. This module packs
a list of them into the kernel's struct of arrays, runs the kernel and writes the moved
best prices and trailing stops back, so `Account(exit_policy=KernelExitPolicy())` switches
an account from the plain-Python policy to the kernel with the same results.

Protections only know the percent trail (`trailing_pct`); the kernel's other trail modes,
activation prices and break-even triggers are for callers that hold the arrays themselves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.enums import ExitReason
from engine.exits import Protection
from risk.codes import EXIT_REASONS, TrailMode
from risk.kernels import trail_and_exit_nb


@dataclass(slots=True)
class ExitArrays:
    """The struct of arrays `trail_and_exit_nb` takes, one row per position."""

    direction: np.ndarray       # int8, +1 / -1
    entry: np.ndarray           # float64
    stop: np.ndarray            # float64, NaN = none
    take: np.ndarray            # float64, NaN = none
    trail_mode: np.ndarray      # int8, TrailMode
    trail_param: np.ndarray     # float64
    atr: np.ndarray             # float64
    activation: np.ndarray      # float64, NaN = trail from the start
    best: np.ndarray            # float64, updated by the kernel
    trail_stop: np.ndarray      # float64, updated by the kernel
    be_trigger: np.ndarray      # float64, NaN = off
    opened_ns: np.ndarray       # int64
    max_holding_ns: np.ndarray  # int64, <= 0 = no limit

    def evaluate(self, prices: np.ndarray, now_ns: int) -> np.ndarray:
        """Exit reason codes (int8) for one tick of prices; moves best and trail_stop."""
        return trail_and_exit_nb(
            self.direction, self.entry, self.stop, self.take, self.trail_mode,
            self.trail_param, self.atr, self.activation, self.best, self.trail_stop,
            self.be_trigger, self.opened_ns, self.max_holding_ns,
            np.asarray(prices, dtype=np.float64), np.int64(now_ns))


def pack_protections(protections: Sequence[Protection]) -> ExitArrays:
    """The protections as kernel rows: a non-NaN `trailing_pct` is TrailMode.PERCENT.

    `deadline_ns` (0 = none) becomes `max_holding_ns = deadline_ns - opened_ns`; a deadline
    at or before the opening time is written as a 1 ns limit that ends at the deadline, so
    the kernel fires at the same instant as PlainExitPolicy.
    """
    n = len(protections)
    direction = np.fromiter((p.direction for p in protections), np.int8, n)
    opened = np.fromiter((p.opened_ns for p in protections), np.int64, n)
    deadline = np.fromiter((p.deadline_ns for p in protections), np.int64, n)
    trailing = np.fromiter((p.trailing_pct for p in protections), np.float64, n)
    holding = np.where(deadline != 0, deadline - opened, 0)
    early = (deadline != 0) & (holding <= 0)
    opened = np.where(early, deadline - 1, opened)
    holding = np.where(early, 1, holding)
    return ExitArrays(
        direction=direction,
        entry=np.fromiter((p.entry for p in protections), np.float64, n),
        stop=np.fromiter((p.stop for p in protections), np.float64, n),
        take=np.fromiter((p.take for p in protections), np.float64, n),
        trail_mode=np.where(np.isnan(trailing), int(TrailMode.NONE),
                            int(TrailMode.PERCENT)).astype(np.int8),
        trail_param=trailing,
        atr=np.full(n, math.nan),
        activation=np.full(n, math.nan),
        best=np.fromiter((p.best for p in protections), np.float64, n),
        trail_stop=np.fromiter((p.trail_stop for p in protections), np.float64, n),
        be_trigger=np.full(n, math.nan),
        opened_ns=opened,
        max_holding_ns=holding,
    )


def write_back(arrays: ExitArrays, protections: Sequence[Protection]) -> None:
    """Copy the kernel's moving state (best, trail_stop) back onto the protections."""
    for p, best, trail_stop in zip(protections, arrays.best.tolist(),
                                   arrays.trail_stop.tolist(), strict=True):
        p.best = best
        p.trail_stop = trail_stop


class KernelExitPolicy:
    """`engine.exits.ExitPolicy` evaluated by `trail_and_exit_nb`: pack, run, write back.

    Agrees with `PlainExitPolicy` on every protection whose `trailing_pct` is NaN or a
    finite number > 0 (what `ExitConfig` allows); the kernel ignores a zero, negative or
    infinite percent where the plain policy would trail by it.
    """

    def evaluate(self, protections: list[Protection], prices: list[float],
                 now_ns: int) -> list[ExitReason]:
        if len(prices) != len(protections):
            raise ValueError(f"{len(prices)} prices for {len(protections)} protections")
        if not protections:
            return []
        arrays = pack_protections(protections)
        codes = arrays.evaluate(np.asarray(prices, dtype=np.float64), now_ns)
        write_back(arrays, protections)
        return [EXIT_REASONS[c] for c in codes.tolist()]
