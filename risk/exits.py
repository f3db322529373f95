"""`KernelExitPolicy`: the `engine.exits.ExitPolicy` seam backed by the exit kernels.

An account keeps its protections as `engine.exits.Protection` objects. This module packs
a list of them into the kernels' struct of arrays, runs a kernel and writes the moved
best prices and trailing stops back, so `Account(exit_policy=KernelExitPolicy())` switches
an account from the plain-Python policy to the kernel with the same results.

Protections only know the percent trail (`trailing_pct`), so packed protections run
through `trail_and_exit_percent_nb`, which reads only the arrays a percent trail needs;
the general `trail_and_exit_nb` (other trail modes, activation prices, break-even
triggers) is for callers that hold the arrays themselves. A book of `PARALLEL_MIN_ROWS`
rows or more runs through the kernels' parallel twins, over every Numba thread of the
process (one per core by default). On an idle 2-core machine the twins already gain at
1e5 rows and lose at 1e3; the threshold is kept higher because they only pay when the
other cores are idle. A host whose cores are busy (one actor per core) should run Numba
on one thread (`NUMBA_NUM_THREADS=1` or `numba.set_num_threads(1)`): the single-threaded
kernels then run at every size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from engine.enums import ExitReason
from engine.exits import Protection
from risk.codes import EXIT_REASONS, TrailMode
from risk.kernels import (
    earliest_deadline,
    trail_and_exit_nb,
    trail_and_exit_parallel_nb,
    trail_and_exit_percent_nb,
    trail_and_exit_percent_parallel_nb,
)

PARALLEL_MIN_ROWS = 200_000
"""Rows from which `ExitArrays.evaluate` runs the parallel twin of its kernel."""


@dataclass(slots=True)
class ExitArrays:
    """The struct of arrays `trail_and_exit_nb` takes, one row per position.

    `percent_only` says that every row trails by a percent or not at all (trail_mode
    PERCENT, or NONE with a trail_param that is not a finite number > 0), without
    activation price or break-even trigger; `evaluate` then runs the faster
    `trail_and_exit_percent_nb`. `pack_protections` sets it; `is_percent_book` checks it.
    `earliest_deadline_ns` is at or before every nonzero deadline_ns (`risk.kernels.
    earliest_deadline`; the smallest int64 = unknown): until then the percent kernel
    skips the deadline column. Whoever changes deadline_ns must lower it to match.
    """

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
    deadline_ns: np.ndarray     # int64, 0 = no holding limit
    percent_only: bool = False
    earliest_deadline_ns: int = -(2 ** 63)

    def is_percent_book(self) -> bool:
        """True when the rows qualify for `trail_and_exit_percent_nb` (see the class)."""
        with np.errstate(invalid="ignore"):
            param = self.trail_param
            no_trail = ~((param > 0.0) & (param < np.inf))
            return bool(np.all((self.trail_mode == TrailMode.PERCENT)
                               | ((self.trail_mode == TrailMode.NONE) & no_trail))
                        and np.all(np.isnan(self.activation))
                        and not np.any(self.be_trigger >= 0.0))

    def evaluate(self, prices: np.ndarray, now_ns: int) -> np.ndarray:
        """Exit reason codes (int8) for one tick of prices; moves best and trail_stop."""
        prices = np.asarray(prices, dtype=np.float64)
        parallel = prices.shape[0] >= PARALLEL_MIN_ROWS and numba.get_num_threads() > 1
        if self.percent_only:
            kernel = (trail_and_exit_percent_parallel_nb if parallel
                      else trail_and_exit_percent_nb)
            return kernel(self.direction, self.stop, self.take, self.trail_param, self.best,
                          self.trail_stop, self.deadline_ns, prices, np.int64(now_ns),
                          np.int64(self.earliest_deadline_ns))
        general = trail_and_exit_parallel_nb if parallel else trail_and_exit_nb
        return general(
            self.direction, self.entry, self.stop, self.take, self.trail_mode,
            self.trail_param, self.atr, self.activation, self.best, self.trail_stop,
            self.be_trigger, self.deadline_ns, prices, np.int64(now_ns))


def pack_protections(protections: Sequence[Protection]) -> ExitArrays:
    """The protections as kernel rows: a non-NaN `trailing_pct` is TrailMode.PERCENT, and
    `deadline_ns` (0 = none) is the kernels' deadline as it is. A percent book: the
    arrays run through `trail_and_exit_percent_nb`, told the earliest deadline."""
    n = len(protections)
    trailing = np.fromiter((p.trailing_pct for p in protections), np.float64, n)
    deadline_ns = np.fromiter((p.deadline_ns for p in protections), np.int64, n)
    return ExitArrays(
        direction=np.fromiter((p.direction for p in protections), np.int8, n),
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
        deadline_ns=deadline_ns,
        percent_only=True,
        earliest_deadline_ns=int(earliest_deadline(deadline_ns)),
    )


def write_back(arrays: ExitArrays, protections: Sequence[Protection]) -> None:
    """Copy the kernel's moving state (best, trail_stop) back onto the protections."""
    for p, best, trail_stop in zip(protections, arrays.best.tolist(),
                                   arrays.trail_stop.tolist(), strict=True):
        p.best = best
        p.trail_stop = trail_stop


class KernelExitPolicy:
    """`engine.exits.ExitPolicy` evaluated by the exit kernels: pack, run, write back.

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
