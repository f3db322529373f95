"""Kernel benchmarks: Numba against its NumPy peer and plain Python, in one run.

Shared by `benchmarks/test_bench_kernels.py` (pytest-benchmark) and the future
`phalanx bench kernels --json` command, which prints `run_kernel_bench()` as JSON.

Kernels measured:
- "trailing_exit": a book of N positions trailing by a percent (what
  `engine.exits.Protection` holds) over a stream of ticks: every call takes one tick of
  prices for all N positions, moves the trailing stops and evaluates stop loss, take
  profit, trailing stop and holding time. The headline is `risk.exits.ExitArrays.evaluate`,
  the call `KernelExitPolicy` makes: `trail_and_exit_percent_nb` on one thread, or its
  parallel twin from `risk.exits.PARALLEL_MIN_ROWS` positions ("numba_threads" says which);
  the single-threaded kernel is always reported too ("numba_1thread_ns_per_position"),
  and so are that kernel reading the deadline column, the parallel twin and the general
  `trail_and_exit_nb`. The book tells the kernels its earliest holding deadline (see
  `risk.kernels.trail_and_exit_percent_nb`), and the NumPy peer `trail_and_exit_percent_np`
  gets the same hint; plain Python is `engine.exits.PlainExitPolicy.evaluate` over
  `Protection` objects, the code the kernel replaces in an account.
- "fleet_sizing": `risk.kernels.size_fleet_nb`, one signal over N accounts with the six
  sizing modes (int8 codes) and caps; `size_fleet_parallel_nb` beside it. The NumPy peer
  is `size_fleet_np`; plain Python is
  `engine.sizing.size_order` per account (modes it lacks are sized as percent of equity;
  it applies no caps, so it does a little less work than the kernel).

Method: the kernels are compiled (and the NumPy peers run once) before any timing; each
sample replays the same work from the same starting state, set up outside the timed
region (a book's arrays are reset in place, not allocated anew); a figure is the minimum
over `repeats` samples (the median is reported too), divided by the number of position
evaluations. Plain Python is timed on at most
`PYTHON_MAX_POSITIONS` positions and reported per position. Before timing, the NumPy
peer's output is checked equal to the kernel's, so both compute the same thing.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from engine.exits import PlainExitPolicy, Protection
from engine.instruments import FeeSchedule, Instrument
from engine.sizing import SizingConfig, SizingMode, size_order
from risk.codes import SizeStatus, SizingModeCode, TrailMode
from risk.exits import PARALLEL_MIN_ROWS, ExitArrays
from risk.kernels import (
    earliest_deadline,
    size_fleet_nb,
    size_fleet_parallel_nb,
    step_scale_nb,
    trail_and_exit_nb,
    trail_and_exit_parallel_nb,
    trail_and_exit_percent_nb,
    trail_and_exit_percent_parallel_nb,
)

SIZES = (1_000, 100_000, 1_000_000)
PYTHON_MAX_POSITIONS = 100_000
TARGET_NS_PER_POSITION = 3.0      # at 1e6 positions
TARGET_VS_NUMPY = 10.0
TARGET_VS_PYTHON = 100.0
SEC = 1_000_000_000
NO_DEADLINE_HINT = -(2 ** 63)     # an earliest_deadline_ns that promises nothing

EXIT_FIELDS = ("direction", "entry", "stop", "take", "trail_mode", "trail_param", "atr",
               "activation", "best", "trail_stop", "be_trigger", "deadline_ns")
PERCENT_EXIT_FIELDS = ("direction", "stop", "take", "trail_param", "best", "trail_stop",
                       "deadline_ns")


# --- NumPy peers ----------------------------------------------------------------------------
def trail_and_exit_np(direction, entry, stop, take, trail_mode, trail_param, atr, activation,
                      best, trail_stop, be_trigger, deadline_ns, price, now_ns):
    """`risk.kernels.trail_and_exit_nb` in whole-array NumPy (same rules, same results).

    The trailing update is computed only on the rows that made a new best (compressed
    indices), which is much cheaper than evaluating every trail mode on every row.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        live = (price > 0.0) & (price < np.inf) & ((direction == 1) | (direction == -1))
        trails = ((trail_param > 0.0) & (trail_param < np.inf)
                  & ((trail_mode == TrailMode.PERCENT) | (trail_mode == TrailMode.ABSOLUTE)
                     | ((trail_mode == TrailMode.ATR) & (atr > 0.0) & (atr < np.inf))))
        arms = be_trigger >= 0.0
        new_best = live & (trails | arms) & ((price - best) * direction > 0.0)
        np.copyto(best, price, where=new_best)

        rows = np.flatnonzero(new_best & trails
                              & (np.isnan(activation) | ((price - activation) * direction
                                                         >= 0.0)))
        px, d, mode = price[rows], direction[rows], trail_mode[rows]
        param = trail_param[rows]
        candidate = np.where(mode == TrailMode.PERCENT, px * (1.0 - d * param / 100.0),
                             np.where(mode == TrailMode.ABSOLUTE, px - d * param,
                                      px - d * param * atr[rows]))
        current = trail_stop[rows]
        tighter = np.isnan(current) | ((candidate - current) * d > 0.0)
        trail_stop[rows[tighter]] = candidate[tighter]

        out = np.zeros(price.shape[0], dtype=np.int8)
        out[live & (deadline_ns != 0) & (now_ns >= deadline_ns)] = 4
        out[live & arms & ((best - entry) * direction >= be_trigger)
            & ((price - entry) * direction <= 0.0)] = 5
        out[live & ((price - trail_stop) * direction <= 0.0)] = 3
        out[live & ((price - take) * direction >= 0.0)] = 2
        out[live & ((price - stop) * direction <= 0.0)] = 1
    return out


def trail_and_exit_percent_np(direction, stop, take, trail_pct, best, trail_stop, deadline_ns,
                              price, now_ns, earliest_deadline_ns=NO_DEADLINE_HINT):
    """`risk.kernels.trail_and_exit_percent_nb` in whole-array NumPy (same rules, same
    results, the same earliest-deadline hint).

    The fastest NumPy formulation found: the new trailing stops are computed on the rows
    that made a new best only (compressed indices), and d x (price - level) <= 0 is
    tested as (long and price <= level) or (short and price >= level), boolean passes
    instead of float temporaries (the same outcome for every live row, NaN included).
    """
    with np.errstate(invalid="ignore", over="ignore"):
        long = direction == 1
        short = direction == -1
        live = (price > 0.0) & (price < np.inf) & (long | short)
        new_best = (live & (trail_pct > 0.0) & (trail_pct < np.inf)
                    & ((long & (price > best)) | (short & (price < best))))
        rows = np.flatnonzero(new_best)
        px, d = price[rows], direction[rows]
        best[rows] = px
        candidate = px * (1.0 - d * trail_pct[rows] / 100.0)
        current = trail_stop[rows]
        tighter = np.isnan(current) | ((candidate - current) * d > 0.0)
        trail_stop[rows[tighter]] = candidate[tighter]

        out = np.zeros(price.shape[0], dtype=np.int8)
        if now_ns >= earliest_deadline_ns:
            out[(deadline_ns != 0) & (now_ns >= deadline_ns)] = 4
        out[(long & (price <= trail_stop)) | (short & (price >= trail_stop))] = 3
        out[(long & (price >= take)) | (short & (price <= take))] = 2
        out[(long & (price <= stop)) | (short & (price >= stop))] = 1
        out[~live] = 0
    return out


def size_fleet_np(equity, free_cash, mode, param, max_qty, max_notional, price, stop_price,
                  atr, qty_step, min_qty, min_notional, multiplier, taker_fee_bps):
    """`risk.kernels.size_fleet_nb` in whole-array NumPy (same rules, same results)."""
    n = equity.shape[0]
    qty = np.zeros(n)
    status = np.zeros(n, dtype=np.int8)
    if not (math.isfinite(price) and price > 0.0):
        status[:] = SizeStatus.INVALID_PRICE
        return qty, status
    if not (math.isfinite(qty_step) and qty_step > 0.0 and math.isfinite(multiplier)
            and multiplier > 0.0 and math.isfinite(min_qty) and min_qty >= 0.0
            and math.isfinite(min_notional) and min_notional >= 0.0
            and math.isfinite(taker_fee_bps)):
        status[:] = SizeStatus.INVALID_INSTRUMENT
        return qty, status
    unit_value = price * multiplier
    taker = max(taker_fee_bps, 0.0) * 1e-4
    if not (unit_value > 0.0 and unit_value * (1.0 + taker) < np.inf):
        status[:] = SizeStatus.INVALID_INSTRUMENT
        return qty, status
    scale = step_scale_nb(qty_step)
    distance = abs(price - stop_price)
    stop_ok = (math.isfinite(stop_price) and stop_price > 0.0
               and 0.0 < distance * multiplier < np.inf)
    atr_ok = math.isfinite(atr) and 0.0 < atr * multiplier < np.inf
    M = SizingModeCode
    S = SizeStatus

    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        uses_equity = ((mode == M.PERCENT_EQUITY) | (mode == M.FIXED_FRACTIONAL)
                       | (mode == M.VOLATILITY_TARGET))
        raw = np.select(
            [mode == M.FIXED_QUANTITY, mode == M.FIXED_NOTIONAL, mode == M.PERCENT_EQUITY,
             mode == M.ALL_CASH, mode == M.FIXED_FRACTIONAL],
            [param, param / unit_value, equity * param / 100.0 / unit_value,
             free_cash / (unit_value * (1.0 + taker)),
             equity * param / (distance * multiplier)],
            equity * param / (atr * multiplier))
        bad = np.select(
            [(mode < M.FIXED_QUANTITY) | (mode > M.VOLATILITY_TARGET),
             (mode != M.ALL_CASH) & ~((param > 0.0) & (param < np.inf)),
             ~np.isfinite(free_cash),
             ~((max_qty > 0.0) & (max_notional > 0.0)),
             free_cash <= 0.0,
             uses_equity & ~((equity > 0.0) & (equity < np.inf)),
             (mode == M.FIXED_FRACTIONAL) & (not stop_ok),
             (mode == M.VOLATILITY_TARGET) & (not atr_ok),
             ~np.isfinite(raw)],
            [S.INVALID_MODE, S.INVALID_PARAM, S.INVALID_CASH, S.INVALID_LIMIT,
             S.INSUFFICIENT_CASH, S.INVALID_EQUITY, S.INVALID_STOP, S.INVALID_ATR,
             S.INVALID_PARAM], S.OK).astype(np.int8)

        target = raw
        code = np.zeros(n, dtype=np.int8)
        for cap, cap_code in ((max_qty, S.CAPPED_MAX_QTY),
                              (max_notional / unit_value, S.CAPPED_MAX_NOTIONAL),
                              (free_cash / (unit_value * (1.0 + taker)), S.CAPPED_CASH)):
            smaller = cap < target
            target = np.where(smaller, cap, target)
            code[smaller] = cap_code
        grid_units = target * scale if scale > 0.0 else target / qty_step
        bad = np.where((bad == S.OK) & (grid_units >= 2.0 ** 52), S.SIZE_OVERFLOW, bad)

        ok = bad == S.OK
        units = target / qty_step
        nearest = np.floor(units + 0.5)
        units = np.where(np.abs(units - nearest) <= 1e-9 + 1e-14 * np.abs(units), nearest,
                         np.floor(units))
        units = np.where(ok, units, 0.0)

        def on_step(u):
            return u * qty_step if scale == 0.0 else np.floor(u * qty_step * scale + 0.5) / scale

        q = on_step(units)
        while True:
            breaks = (units > 0.0) & ((q > max_qty) | (q * price * multiplier > max_notional)
                                      | (q * price * multiplier * (1.0 + taker) > free_cash))
            if not breaks.any():
                break
            units = np.where(breaks, units - 1.0, units)
            q = np.where(breaks, on_step(units), q)

        cash_bound = code == S.CAPPED_CASH
        below_qty = ok & ((q <= 0.0) | (q < min_qty))
        below_notional = ok & ~below_qty & (q * price * multiplier < min_notional)
        status = np.where(ok, code, bad).astype(np.int8)
        status[below_qty] = np.where(cash_bound[below_qty], S.INSUFFICIENT_CASH,
                                     S.BELOW_MIN_QTY)
        status[below_notional] = np.where(cash_bound[below_notional], S.INSUFFICIENT_CASH,
                                          S.BELOW_MIN_NOTIONAL)
        qty = np.where(status < 10, q, 0.0)
    return qty, status


# --- workloads ------------------------------------------------------------------------------
@dataclass(slots=True)
class ExitWorkload:
    """N positions trailing by a percent, and `ticks` ticks of prices for all of them."""

    state: dict[str, np.ndarray]
    prices: np.ndarray          # (ticks, N)
    now_ns: np.ndarray          # (ticks,)
    earliest_deadline_ns: int   # what the book keeps of its holding limits (see kernels)

    @property
    def positions(self) -> int:
        return self.prices.shape[1]

    def fresh(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.state.items()}

    def reset(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`state` (from `fresh`) set back to the starting state in place: a book's arrays
        live as long as the book, so a sample reuses them rather than allocating anew."""
        for k, v in self.state.items():
            np.copyto(state[k], v)
        return state

    def protections(self, limit: int) -> list[Protection]:
        s = self.state
        return [Protection("X", int(s["direction"][i]), float(s["entry"][i]), 0,
                           stop=float(s["stop"][i]), take=float(s["take"][i]),
                           trailing_pct=float(s["trail_param"][i]), best=float(s["best"][i]),
                           trail_stop=float(s["trail_stop"][i]),
                           deadline_ns=int(s["deadline_ns"][i]))
                for i in range(min(limit, self.positions))]


def exit_workload(n: int, ticks: int, seed: int = 7) -> ExitWorkload:
    rng = np.random.default_rng(seed)
    direction = rng.choice(np.array([1, -1], dtype=np.int8), n)
    entry = 100.0 * np.exp(rng.normal(0.0, 0.3, n))
    pct = rng.uniform(1.0, 5.0, n)
    state = {
        "direction": direction,
        "entry": entry,
        "stop": entry * (1 - direction * 0.05),
        "take": entry * (1 + direction * 0.08),
        "trail_mode": np.full(n, int(TrailMode.PERCENT), dtype=np.int8),
        "trail_param": pct,
        "atr": entry * 0.01,
        "activation": np.full(n, math.nan),
        "best": entry.copy(),
        "trail_stop": entry * (1 - direction * pct / 100),
        "be_trigger": np.full(n, math.nan),
        "deadline_ns": rng.integers(60, 3600, n, dtype=np.int64) * SEC,
    }
    steps = rng.normal(0.0, 0.002, (ticks, n))
    prices = entry * np.exp(np.cumsum(steps, axis=0))
    now_ns = np.arange(1, ticks + 1, dtype=np.int64) * 10 * SEC
    return ExitWorkload(state, prices, now_ns, int(earliest_deadline(state["deadline_ns"])))


@dataclass(slots=True)
class SizingWorkload:
    """One signal over N accounts: arrays per account plus the scalars."""

    arrays: tuple[np.ndarray, ...]     # equity, free_cash, mode, param, max_qty, max_notional
    scalars: tuple[float, ...]         # price, stop, atr, step, min_qty, min_notional, mult, fee

    @property
    def positions(self) -> int:
        return self.arrays[0].shape[0]


def sizing_workload(n: int, seed: int = 11) -> SizingWorkload:
    rng = np.random.default_rng(seed)
    equity = rng.uniform(1e4, 1e6, n)
    free_cash = equity * rng.uniform(0.05, 1.0, n)
    mode = rng.integers(0, len(SizingModeCode), n, dtype=np.int8)
    param = np.select([mode == SizingModeCode.FIXED_QUANTITY,
                       mode == SizingModeCode.FIXED_NOTIONAL,
                       mode == SizingModeCode.PERCENT_EQUITY],
                      [rng.uniform(1.0, 500.0, n), rng.uniform(1e3, 1e5, n),
                       rng.uniform(1.0, 50.0, n)], rng.uniform(0.002, 0.02, n))
    max_qty = np.where(rng.random(n) < 0.5, np.inf, rng.uniform(10.0, 2000.0, n))
    max_notional = np.where(rng.random(n) < 0.5, np.inf, rng.uniform(1e3, 2e5, n))
    scalars = (123.45, 120.0, 2.5, 0.01, 0.01, 5.0, 1.0, 7.5)
    return SizingWorkload((equity, free_cash, mode, param, max_qty, max_notional), scalars)


# --- one sample of each implementation ------------------------------------------------------
def run_exits(kernel: Callable, fields: tuple[str, ...], hint: bool, w: ExitWorkload,
              state: dict[str, np.ndarray], ticks: int) -> np.ndarray:
    """`ticks` calls of an exit kernel (or NumPy peer) taking the arrays `fields`, and the
    book's earliest deadline when `hint`."""
    args = [state[k] for k in fields]
    extra = (np.int64(w.earliest_deadline_ns),) if hint else ()
    out = None
    for t in range(ticks):
        out = kernel(*args, w.prices[t], w.now_ns[t], *extra)
    return out


def run_exit_arrays(arrays: ExitArrays, w: ExitWorkload, ticks: int) -> np.ndarray:
    """`ticks` ticks through `risk.exits.ExitArrays.evaluate`, the call
    `KernelExitPolicy` makes: its kernel, single-threaded or parallel by the book's size."""
    out = None
    for t in range(ticks):
        out = arrays.evaluate(w.prices[t], int(w.now_ns[t]))
    return out


def exit_arrays(w: ExitWorkload, state: dict[str, np.ndarray]) -> ExitArrays:
    """The workload's book as `risk.exits.pack_protections` would pack it."""
    return ExitArrays(**state, percent_only=True,
                      earliest_deadline_ns=w.earliest_deadline_ns)


EXIT_RUNS = {   # name: (kernel, the arrays it takes, whether it is told the earliest deadline)
    "numba_1thread": (trail_and_exit_percent_nb, PERCENT_EXIT_FIELDS, True),
    "numba_1thread_deadline_read": (trail_and_exit_percent_nb, PERCENT_EXIT_FIELDS, False),
    "parallel": (trail_and_exit_percent_parallel_nb, PERCENT_EXIT_FIELDS, True),
    "numpy": (trail_and_exit_percent_np, PERCENT_EXIT_FIELDS, True),
    "general": (trail_and_exit_nb, EXIT_FIELDS, False),
    "general_parallel": (trail_and_exit_parallel_nb, EXIT_FIELDS, False),
    "general_numpy": (trail_and_exit_np, EXIT_FIELDS, False),
}


def run_exits_python(protections: list[Protection], prices: list[list[float]],
                     now_ns: Sequence[int]) -> list:
    policy = PlainExitPolicy()
    out: list = []
    for px, now in zip(prices, now_ns, strict=True):
        out = policy.evaluate(protections, px, now)
    return out


def run_sizing(kernel: Callable, w: SizingWorkload, calls: int):
    """`calls` calls of a sizing kernel (or NumPy peer) on the same fleet."""
    out = None
    for _ in range(calls):
        out = kernel(*w.arrays, *w.scalars)
    return out


def python_sizing_inputs(w: SizingWorkload, limit: int):
    """Per account: (SizingConfig, equity, cash) for engine.sizing.size_order."""
    price, _, _, step, min_qty, min_notional, mult, fee = w.scalars
    instrument = Instrument("X", qty_step=step, min_qty=min_qty, min_notional=min_notional,
                            multiplier=mult, fees=FeeSchedule(taker_bps=fee))
    equity, cash, mode, param = (a[:limit].tolist() for a in w.arrays[:4])
    configs = []
    for m, p in zip(mode, param, strict=True):
        if m == SizingModeCode.FIXED_QUANTITY:
            configs.append(SizingConfig(SizingMode.FIXED_QUANTITY, quantity=p))
        elif m == SizingModeCode.FIXED_NOTIONAL:
            configs.append(SizingConfig(SizingMode.FIXED_NOTIONAL, notional=p))
        elif m == SizingModeCode.ALL_CASH:
            configs.append(SizingConfig(SizingMode.ALL_CASH))
        elif m == SizingModeCode.PERCENT_EQUITY:
            configs.append(SizingConfig(SizingMode.PERCENT_EQUITY, percent=p))
        else:   # fixed-fractional / volatility target: a fraction, sized as that percent
            configs.append(SizingConfig(SizingMode.PERCENT_EQUITY, percent=p * 100))
    return instrument, price, list(zip(configs, equity, cash, strict=True))


def run_sizing_python(instrument: Instrument, price: float, rows: list) -> list:
    return [size_order(cfg, instrument, price, eq, cash) for cfg, eq, cash in rows]


# --- timing ---------------------------------------------------------------------------------
def time_samples(fn: Callable[..., object], setup: Callable[[], tuple], repeats: int
                 ) -> list[int]:
    """Nanoseconds of `fn(*setup())` per sample; setup runs outside the timed region."""
    samples = []
    for _ in range(repeats):
        args = setup()
        t0 = time.perf_counter_ns()
        fn(*args)
        samples.append(time.perf_counter_ns() - t0)
    return samples


def ticks_for(n: int) -> int:
    """Ticks per sample: enough work per sample for a stable clock reading."""
    return int(min(200, max(4, 2_000_000 // n)))


def warm_up() -> None:
    """Compile the kernels (or load them from the Numba cache) and run the NumPy peers."""
    w = exit_workload(64, 2)
    for kernel, fields, hint in EXIT_RUNS.values():
        run_exits(kernel, fields, hint, w, w.fresh(), 2)
    run_exit_arrays(exit_arrays(w, w.fresh()), w, 2)
    s = sizing_workload(64)
    for kernel in (size_fleet_nb, size_fleet_parallel_nb, size_fleet_np):
        run_sizing(kernel, s, 1)


def check_peers_agree(n: int = 20_000) -> None:
    """The NumPy peers compute what the kernels compute (RuntimeError otherwise)."""
    w = exit_workload(n, 6)
    states = {name: w.fresh() for name in (*EXIT_RUNS, "exit_arrays")}
    policy = exit_arrays(w, states["exit_arrays"])
    for t in range(6):
        outs = {name: run_exits(kernel, fields, hint, w, states[name], 1) if t == 0 else
                kernel(*[states[name][k] for k in fields], w.prices[t], w.now_ns[t],
                       *((np.int64(w.earliest_deadline_ns),) if hint else ()))
                for name, (kernel, fields, hint) in EXIT_RUNS.items()}
        outs["exit_arrays"] = policy.evaluate(w.prices[t], int(w.now_ns[t]))
        a = states["numba_1thread_deadline_read"]
        for name, out in outs.items():
            b = states[name]
            same = (np.array_equal(outs["numba_1thread_deadline_read"], out)
                    and np.array_equal(a["best"], b["best"])
                    and np.array_equal(a["trail_stop"], b["trail_stop"], equal_nan=True))
            if not same:
                raise RuntimeError(f"exit run {name!r} disagrees with "
                                   "trail_and_exit_percent_nb")
    s = sizing_workload(n)
    q_nb, st_nb = size_fleet_nb(*s.arrays, *s.scalars)
    for peer in (size_fleet_np, size_fleet_parallel_nb):
        q, st = peer(*s.arrays, *s.scalars)
        if not (np.array_equal(q_nb, q) and np.array_equal(st_nb, st)):
            raise RuntimeError(f"{peer.__name__} disagrees with size_fleet_nb")


@dataclass(frozen=True, slots=True)
class Run:
    """One implementation's sample: `fn(*setup())`, covering `evaluations` position
    evaluations; `setup` runs outside the timed region."""

    fn: Callable[..., object]
    setup: Callable[[], tuple]
    evaluations: int


@dataclass(frozen=True, slots=True)
class Case:
    kernel: str
    positions: int
    numba: Run
    numpy: Run
    python: Run
    extra: dict
    parallel: Run | None = None     # the same kernel over all Numba threads, if it has one
    variants: dict[str, Run] = field(default_factory=dict)   # more figures: {field: run}
    single_thread: Run | None = None   # when `numba` may run on several threads: on one
    numba_threads: int = 1             # the threads `numba` runs on at this size


def trailing_exit_case(n: int) -> Case:
    """Headline: `ExitArrays.evaluate`, the engine's call (`KernelExitPolicy`), which runs
    the parallel twin from `PARALLEL_MIN_ROWS` rows; the single-threaded kernel beside it.
    Every run keeps one set of book arrays, reset in place before each sample."""
    ticks = ticks_for(n)
    w = exit_workload(n, ticks)
    n_py = min(n, PYTHON_MAX_POSITIONS)
    ticks_py = max(1, min(ticks, 200_000 // n_py))
    prices = [row[:n_py].tolist() for row in w.prices[:ticks_py]]
    now = w.now_ns[:ticks_py].tolist()

    def run(name: str) -> Run:
        kernel, fields, hint = EXIT_RUNS[name]
        state = w.fresh()
        return Run(run_exits, lambda: (kernel, fields, hint, w, w.reset(state), ticks),
                   ticks * n)

    book = w.fresh()
    arrays = exit_arrays(w, book)
    parallel = n >= PARALLEL_MIN_ROWS and numba.get_num_threads() > 1

    def engine_setup() -> tuple:
        w.reset(book)
        return arrays, w, ticks

    return Case(
        "trailing_exit", n,
        numba=Run(run_exit_arrays, engine_setup, ticks * n),
        numpy=run("numpy"),
        python=Run(run_exits_python, lambda: (w.protections(n_py), prices, now),
                   ticks_py * n_py),
        extra={"ticks": ticks, "python_positions": n_py, "python_ticks": ticks_py,
               "numba_call": "risk.exits.ExitArrays.evaluate",
               "numba_kernel": ("trail_and_exit_percent_parallel_nb" if parallel
                                else "trail_and_exit_percent_nb"),
               "numba_1thread_kernel": "trail_and_exit_percent_nb",
               "numpy_peer": "trail_and_exit_percent_np",
               "earliest_deadline_ns": w.earliest_deadline_ns,
               "last_tick_ns": int(w.now_ns[-1])},
        parallel=run("parallel"),
        single_thread=run("numba_1thread"),
        numba_threads=numba.get_num_threads() if parallel else 1,
        variants={
            "numba_1thread_deadline_read_ns_per_position": run("numba_1thread_deadline_read"),
            "numba_general_ns_per_position": run("general"),
            "numba_general_parallel_ns_per_position": run("general_parallel"),
            "numpy_general_ns_per_position": run("general_numpy")})


def fleet_sizing_case(n: int) -> Case:
    calls = ticks_for(n)
    w = sizing_workload(n)
    n_py = min(n, PYTHON_MAX_POSITIONS)
    instrument, price, rows = python_sizing_inputs(w, n_py)
    return Case(
        "fleet_sizing", n,
        numba=Run(run_sizing, lambda: (size_fleet_nb, w, calls), calls * n),
        numpy=Run(run_sizing, lambda: (size_fleet_np, w, calls), calls * n),
        parallel=Run(run_sizing, lambda: (size_fleet_parallel_nb, w, calls), calls * n),
        python=Run(run_sizing_python, lambda: (instrument, price, rows), n_py),
        extra={"calls": calls, "python_positions": n_py})


CASES: dict[str, Callable[[int], Case]] = {
    "trailing_exit": trailing_exit_case,
    "fleet_sizing": fleet_sizing_case,
}


def ns_per_position(run: Run, repeats: int) -> tuple[float, float]:
    """(minimum, median) nanoseconds per position evaluation over `repeats` samples."""
    samples = time_samples(run.fn, run.setup, repeats)
    return min(samples) / run.evaluations, statistics.median(samples) / run.evaluations


def meets_targets(ns: float, numpy_ns: float, python_ns: float) -> dict[str, bool]:
    return {"ns_per_position": ns <= TARGET_NS_PER_POSITION,
            "vs_numpy": numpy_ns / ns >= TARGET_VS_NUMPY,
            "vs_python": python_ns / ns >= TARGET_VS_PYTHON}


def measure(case: Case, repeats: int = 5, python_repeats: int = 3,
            numba_ns: tuple[float, float] | None = None) -> dict:
    """All three implementations of `case`, timed one after the other (numba's figures
    may come from elsewhere, e.g. pytest-benchmark's fixture)."""
    numba_ns = numba_ns or ns_per_position(case.numba, repeats)
    numpy_ns = ns_per_position(case.numpy, repeats)
    python_ns = ns_per_position(case.python, python_repeats)
    return {
        "kernel": case.kernel,
        "positions": case.positions,
        "numba_ns_per_position": round(numba_ns[0], 3),
        "numpy_ns_per_position": round(numpy_ns[0], 3),
        "python_ns_per_position": round(python_ns[0], 3),
        "numba_threads": case.numba_threads,
        "median_ns_per_position": {"numba": round(numba_ns[1], 3),
                                   "numpy": round(numpy_ns[1], 3),
                                   "python": round(python_ns[1], 3)},
        "numba_vs_numpy": round(numpy_ns[0] / numba_ns[0], 2),
        "numba_vs_python": round(python_ns[0] / numba_ns[0], 1),
        "meets_targets": meets_targets(numba_ns[0], numpy_ns[0], python_ns[0]),
        **case.extra,
        **_single_thread_fields(case, repeats, numpy_ns[0], python_ns[0]),
        **_parallel_fields(case, repeats, numpy_ns[0], python_ns[0]),
        **{name: round(ns_per_position(run, repeats)[0], 3)
           for name, run in case.variants.items()},
    }


def _single_thread_fields(case: Case, repeats: int, numpy_ns: float, python_ns: float
                          ) -> dict:
    """The kernel on one thread, for a case whose headline is the engine's call, which
    may use every Numba thread at this size (see `numba_threads`)."""
    if case.single_thread is None:
        return {}
    ns = ns_per_position(case.single_thread, repeats)[0]
    return {"numba_1thread_ns_per_position": round(ns, 3),
            "numba_1thread_vs_numpy": round(numpy_ns / ns, 2),
            "numba_1thread_vs_python": round(python_ns / ns, 1),
            "numba_1thread_meets_targets": meets_targets(ns, numpy_ns, python_ns)}


def _parallel_fields(case: Case, repeats: int, numpy_ns: float, python_ns: float) -> dict:
    """The multi-threaded kernel, reported beside the single-threaded one: it uses every
    core of the machine, which an actor sharing a core does not have."""
    if case.parallel is None:
        return {}
    ns = ns_per_position(case.parallel, repeats)[0]
    return {"numba_parallel_ns_per_position": round(ns, 3),
            "parallel_threads": numba.get_num_threads(),
            "parallel_meets_targets": meets_targets(ns, numpy_ns, python_ns)}


def run_kernel_bench(sizes: Sequence[int] = SIZES, repeats: int = 5) -> dict:
    """Measure every kernel at every size: numba, numpy and python in the same run.

    Returns {"results": [{"kernel", "positions", "numba_ns_per_position",
    "numpy_ns_per_position", "python_ns_per_position", ...}, ...], "targets": ...,
    "environment": ...}; figures are the minimum over `repeats` samples (medians under
    "median_ns_per_position").
    """
    warm_up()
    check_peers_agree()
    results = [measure(make_case(n), repeats) for n in sizes for make_case in CASES.values()]
    return {
        "results": results,
        "targets": {"at_positions": 1_000_000,
                    "ns_per_position": TARGET_NS_PER_POSITION,
                    "vs_numpy": TARGET_VS_NUMPY, "vs_python": TARGET_VS_PYTHON},
        "environment": environment(),
    }


def environment() -> dict:
    return {"python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__, "cpus": os.cpu_count(),
            "machine": platform.machine()}
