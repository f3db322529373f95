"""The fast path: backtest many parameter sets of one strategy at once, in Numba.

`run_grid` computes each strategy's indicators once per distinct window (`strategies.kernels`),
then, in parallel over the parameter sets, writes a set's int8 signal codes into a buffer that
stays in cache and replays the event-driven path's portfolio rules on them (`simulate_nb`). The
rules (docs/fast-path.md) are those of Strategy -> Account -> SimBroker with
no slippage, one symbol and a single market order per side change:

- a signal on bar t acts at bar t+1's open (`fill="next_open"`; never on the last bar) or at
  bar t's close (`fill="close"`); LONG opens a long, FLAT closes, SHORT opens a short when
  the strategy's config has allow_short=True and means FLAT otherwise; a change of side is
  two fills, the close first;
- the entry size is all-in (cash / (P * (1 + fee)), floored onto the step as
  `engine.instruments.Instrument.floor_qty`) or a fixed quantity; an opening fill whose
  cost exceeds cash by more than 1e-6 does not happen (the venue's "insufficient funds at
  fill"); fees are basis points of notional; cash moves as `engine.positions.Portfolio`.

Settings the event path supports but this path cannot reproduce exactly (slippage, other
sizing modes) are refused rather than approximated.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numba
import numpy as np
from numba import njit, prange

from engine.errors import ConfigError, InvalidInput, config_number
from engine.instruments import Instrument
from strategies import kernels as k
from strategies.config import StrategyConfig, config_from_params
from strategies.registry import lookup

_FILL_MODES = ("next_open", "close")
_SIZINGS = ("all-in", "fixed")
_MAX_STEP_DECIMALS = 15
_CHUNK = 1024            # parameter sets whose signals are held in memory at once
_EXACT_LIMIT = 2 ** 62   # bound on |price units| x window products kept exact in int64
_PARALLEL_MIN_WORK = 200_000   # bar-combinations below which waking threads costs more


@dataclass(frozen=True, slots=True)
class FastSettings:
    """Account and fill settings of a fast-path run (the event path's CLI options)."""

    cash: float = 100_000.0
    fill: str = "next_open"        # or "close"
    sizing: str = "all-in"         # or "fixed"
    quantity: float = 0.0          # fixed sizing: units per entry (> 0 required then)
    qty_step: float = 1e-8         # lot size; 1.0 = whole units
    fee_bps: float = 0.0           # taker fee in basis points of notional

    def __post_init__(self) -> None:
        config_number("cash", self.cash, above=0.0)
        if self.fill not in _FILL_MODES:
            raise ConfigError("fill", f"must be one of {', '.join(_FILL_MODES)}, "
                                      f"not {self.fill!r}")
        if self.sizing not in _SIZINGS:
            raise ConfigError("sizing", f"must be one of {', '.join(_SIZINGS)}, "
                                        f"not {self.sizing!r}")
        config_number("quantity", self.quantity, minimum=0.0)
        if self.sizing == "fixed" and self.quantity <= 0:
            raise ConfigError("quantity", f"must be > 0 with fixed sizing, not {self.quantity!r}")
        config_number("qty_step", self.qty_step, above=0.0)
        if _step_decimals(self.qty_step) > _MAX_STEP_DECIMALS:
            raise ConfigError("qty_step", f"{self.qty_step!r} has more than "
                                          f"{_MAX_STEP_DECIMALS} decimals")
        config_number("fee_bps", self.fee_bps, minimum=0.0)


def _step_decimals(step: float) -> int:
    """Decimals of the step's shortest repr, as `engine.instruments` counts them."""
    return max(0, -int(Decimal(repr(float(step))).normalize().as_tuple().exponent))


# --- the portfolio kernel ------------------------------------------------------------------
# Columns of the per-set stats row (results, then state used while simulating).
FINAL_VALUE, CASH, POSITION, FILLS, CLOSED, OPEN, WINS, LOSSES = range(8)
GROSS_PROFIT, GROSS_LOSS, FEES, MAX_DD, EXPOSURE = range(8, 13)
_ENTRY_PX, _TRIP_FEES = range(13, 15)
N_STATS = 15
FIGURES = ("final_value", "cash", "position", "fills", "closed_trades", "open_trades", "wins",
           "losses", "gross_profit", "gross_loss", "fees", "max_drawdown", "exposure")
_COUNTS = frozenset({"fills", "closed_trades", "open_trades", "wins", "losses"})
FILL_DTYPE = np.dtype([("bar_index", np.int64), ("side", np.int8), ("price", np.float64),
                       ("qty", np.float64), ("fee", np.float64)])


@njit(cache=True)
def floor_qty_nb(raw, step, step_units, scale):
    """`raw` (>= 0) floored onto the step, as `engine.instruments.Instrument.floor_qty`:
    the nearest whole number of steps when within float noise of it, else rounded down;
    then whole x step written with the step's decimals, here (whole x step_units) / scale
    with step = step_units / scale, one correctly rounded division (exact for whole x
    step_units < 2^53)."""
    if not (raw > 0.0 and raw < np.inf):
        return 0.0
    units = raw / step
    nearest = np.rint(units)
    if abs(units - nearest) <= 1e-9 + 1e-14 * abs(units):
        whole = nearest
    else:
        whole = np.floor(units)
    return whole * step_units / scale


@njit(cache=True)
def _fill(st, side, qty, px, fee_bps, bar, fills):
    """Apply one fill of `side` (+1 buy, -1 sell) to cash, position and round trip, as
    `engine.positions.Portfolio.apply_fill` and `Position.apply_fill` do."""
    fee = qty * px * fee_bps * 1e-4
    signed = side * qty
    st[CASH] -= signed * px + fee
    st[FEES] += fee
    n = int(st[FILLS])
    if n < fills.shape[0]:
        fills[n, 0], fills[n, 1], fills[n, 2], fills[n, 3], fills[n, 4] = bar, side, px, qty, fee
    st[FILLS] += 1.0
    pos = st[POSITION]
    if pos == 0.0:
        st[POSITION] = signed
        st[_ENTRY_PX] = px
        st[_TRIP_FEES] = fee
        return
    direction = 1.0 if pos > 0 else -1.0
    pnl = qty * (px - st[_ENTRY_PX]) * direction
    net = pnl - (st[_TRIP_FEES] + fee * qty / qty)    # Position's closing_fee, float for float
    st[POSITION] = 0.0
    st[CLOSED] += 1.0
    if net > 0:
        st[WINS] += 1.0
        st[GROSS_PROFIT] += net
    elif net < 0:
        st[LOSSES] += 1.0
        st[GROSS_LOSS] += net


@njit(cache=True)
def _act(st, code, px, allow_short, fixed, q_fixed, fee_bps, step, step_units, scale, bar,
         fills):
    """Carry out one signal code at price `px`: close what is against it, then open."""
    if code == 0:
        return
    target = 1 if code == 1 else (-1 if code == -1 and allow_short else 0)
    pos = st[POSITION]
    current = 1 if pos > 0 else (-1 if pos < 0 else 0)
    if target == current:
        return
    if current != 0:
        _fill(st, -current, abs(pos), px, fee_bps, bar, fills)
    if target == 0:
        return
    cash = st[CASH]
    if fixed:
        qty = q_fixed
    else:
        qty = floor_qty_nb(max(cash, 0.0) / (px * (1.0 + fee_bps * 1e-4)), step, step_units,
                           scale)
    if qty <= 0.0:
        return
    if qty * px + qty * px * fee_bps * 1e-4 > cash + 1e-6:    # insufficient funds at fill
        return
    _fill(st, target, qty, px, fee_bps, bar, fills)


@njit(cache=True)
def simulate_nb(codes, open_, close, allow_short, fill_close, fixed, q_fixed, fee_bps, step,
                step_units, scale, cash, st, fills):
    """Backtest one set of signal codes; results into the stats row `st`, fills (bar, side,
    price, qty, fee) into `fills` while it has room (pass a (0, 5) array to skip them).

    Reference: the event-driven path (Strategy -> Account -> SimBroker), restated in plain
    Python in tests/unit/strategies/test_fast.py; docs/fast-path.md states the rules.
    The drawdown is max over bars of 1 - equity / running peak, found per peak as the
    lowest equity before the next peak (the same float result, one division per peak).
    """
    st[:] = 0.0
    st[CASH] = cash
    n = codes.shape[0]
    pos, exposed, max_dd = 0.0, 0, 0.0
    peak = trough = cash
    for t in range(n):
        code = codes[t] if fill_close else (codes[t - 1] if t > 0 else 0)
        if code != 0:
            px = close[t] if fill_close else open_[t]
            _act(st, code, px, allow_short, fixed, q_fixed, fee_bps, step, step_units, scale,
                 t, fills)
            cash, pos = st[CASH], st[POSITION]
        equity = cash
        if pos != 0.0:
            exposed += 1
            equity = cash + pos * close[t]
        if equity > peak:
            max_dd = max(max_dd, 1.0 - trough / peak)
            peak = trough = equity
        elif equity < trough:
            trough = equity
    st[MAX_DD] = max(max_dd, 1.0 - trough / peak)
    st[FINAL_VALUE] = cash + pos * close[n - 1] if n else cash
    st[OPEN] = 1.0 if pos != 0.0 else 0.0
    st[EXPOSURE] = exposed / n if n else 0.0


@njit(cache=True)
def _codes_row(i, out, keep, sim):
    """Where set i's signal codes go: row i of `out` when kept, else a fresh buffer."""
    return out[i] if keep else np.empty(sim[0].shape[0], np.int8)


@njit(cache=True)
def _simulate_row(i, codes, sim, allow_short, stats, fills):
    """`simulate_nb` of set i into stats[i], unless `stats` has no rows."""
    if stats.shape[0]:
        simulate_nb(codes, sim[0], sim[1], allow_short[i], sim[2], sim[3], sim[4], sim[5],
                    sim[6], sim[7], sim[8], sim[9], stats[i], fills)


@njit(cache=True, parallel=True)
def simulate_grid_nb(codes, sim, allow_short, stats, fills, starts):
    """`simulate_nb` for every row of `codes`, in parallel; set i's fills go to
    fills[starts[i]:starts[i + 1]] (size `starts` from a first pass's fill counts, or pass
    zeros and an empty `fills` to count only)."""
    for i in prange(codes.shape[0]):
        _simulate_row(i, codes[i], sim, allow_short, stats, fills[starts[i]:starts[i + 1]])


# --- indicators, one row per distinct window -------------------------------------------------
@njit(cache=True, parallel=True)
def _rolling_sums_nb(units, windows):
    out = np.empty((windows.shape[0], units.shape[0]), np.int64)
    for j in prange(windows.shape[0]):
        k.rolling_sum_nb(units, windows[j], out[j])
    return out


@njit(cache=True, parallel=True)
def _zscores_nb(units, windows):
    out = np.empty((windows.shape[0], units.shape[0]))
    for j in prange(windows.shape[0]):
        k.zscore_nb(units, windows[j], out[j])
    return out


@njit(cache=True, parallel=True)
def _channels_nb(high, low, windows):
    his = np.empty((windows.shape[0], high.shape[0]))
    los = np.empty((windows.shape[0], high.shape[0]))
    for j in prange(windows.shape[0]):
        k.prior_extremes_nb(high, low, windows[j], his[j], los[j])
    return his, los


# --- signals (and backtests) of many sets, indicators shared ---------------------------------
# Each grid kernel computes set i's codes into row i of `out` (keep=True) or into a buffer
# that stays in cache, and backtests them into stats[i] unless `stats` has no rows. `sim` is
# (open, close, fill_close, fixed, q_fixed, fee_bps, step, step_units, scale, cash).
@njit(cache=True, parallel=True)
def _sma_cross_grid_nb(sums, fast_row, slow_row, fast, slow, allow_short, sim, out, keep,
                       stats):
    for i in prange(fast.shape[0]):
        codes = _codes_row(i, out, keep, sim)
        k.sma_cross_signals_nb(sums[fast_row[i]], sums[slow_row[i]], fast[i], slow[i],
                               allow_short[i], codes)
        _simulate_row(i, codes, sim, allow_short, stats, np.empty((0, 5)))


@njit(cache=True, parallel=True)
def _sma_trend_grid_nb(units, sums, row, period, allow_short, sim, out, keep, stats):
    for i in prange(period.shape[0]):
        codes = _codes_row(i, out, keep, sim)
        k.sma_trend_signals_nb(units, sums[row[i]], period[i], codes)
        _simulate_row(i, codes, sim, allow_short, stats, np.empty((0, 5)))


@njit(cache=True, parallel=True)
def _mean_reversion_grid_nb(zs, row, entry_z, exit_z, allow_short, sim, out, keep, stats):
    for i in prange(row.shape[0]):
        codes = _codes_row(i, out, keep, sim)
        k.mean_reversion_signals_nb(zs[row[i]], entry_z[i], exit_z[i], allow_short[i], codes)
        _simulate_row(i, codes, sim, allow_short, stats, np.empty((0, 5)))


@njit(cache=True, parallel=True)
def _breakout_grid_nb(close, his, los, row, exit_row, allow_short, sim, out, keep, stats):
    for i in prange(row.shape[0]):
        codes = _codes_row(i, out, keep, sim)
        x = exit_row[i]
        k.breakout_signals_nb(close, his[row[i]], los[row[i]], his[max(x, 0)], los[max(x, 0)],
                              x >= 0, allow_short[i], codes)
        _simulate_row(i, codes, sim, allow_short, stats, np.empty((0, 5)))


@dataclass(slots=True)
class _Bars:
    """Checked float64 columns of one symbol, and the close in integer micro units."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    units: np.ndarray = field(init=False)
    max_units: int = field(init=False)

    def __post_init__(self) -> None:
        if np.abs(self.close).max(initial=0.0) * 1e6 >= 2.0 ** 63:
            raise InvalidInput("bars.close", float(np.abs(self.close).max()),
                               "is too large for exact integer micro units")
        self.units = np.rint(self.close * 1e6).astype(np.int64)
        self.max_units = int(np.abs(self.units).max(initial=0))

    def check_exact(self, product: int, what: str) -> None:
        if self.max_units * product >= _EXACT_LIMIT:
            raise InvalidInput("bars.close", self.max_units / 1e6,
                               f"times {what} {product} is beyond exact int64 arithmetic")


def _rows(windows: Sequence[int]) -> tuple[list[int], np.ndarray]:
    """Distinct windows and, per set, the row of its window."""
    distinct = sorted(set(windows))
    at = {w: i for i, w in enumerate(distinct)}
    return distinct, np.array([at[w] for w in windows], np.int64)


def _flags(cfgs: Sequence[StrategyConfig], name: str) -> np.ndarray:
    return np.array([bool(getattr(c, name, False)) for c in cfgs])


def _sma_cross(bars: _Bars, cfgs: Sequence[StrategyConfig], *run: object) -> None:
    bars.check_exact(max(c.fast * c.slow for c in cfgs), "fast x slow")
    distinct, rows = _rows([c.fast for c in cfgs] + [c.slow for c in cfgs])
    sums = _rolling_sums_nb(bars.units, np.array(distinct))
    n = len(cfgs)
    _sma_cross_grid_nb(sums, rows[:n], rows[n:], np.array([c.fast for c in cfgs]),
                       np.array([c.slow for c in cfgs]), _flags(cfgs, "allow_short"), *run)


def _sma_trend(bars: _Bars, cfgs: Sequence[StrategyConfig], *run: object) -> None:
    bars.check_exact(max(c.period for c in cfgs), "period")
    distinct, rows = _rows([c.period for c in cfgs])
    sums = _rolling_sums_nb(bars.units, np.array(distinct))
    _sma_trend_grid_nb(bars.units, sums, rows, np.array([c.period for c in cfgs]),
                       _flags(cfgs, "allow_short"), *run)


def _mean_reversion(bars: _Bars, cfgs: Sequence[StrategyConfig], *run: object) -> None:
    bars.check_exact(max(c.window for c in cfgs), "window")
    distinct, rows = _rows([c.window for c in cfgs])
    zs = _zscores_nb(bars.units, np.array(distinct))
    _mean_reversion_grid_nb(zs, rows, np.array([c.entry_z for c in cfgs], np.float64),
                            np.array([c.exit_z for c in cfgs], np.float64),
                            _flags(cfgs, "allow_short"), *run)


def _breakout(bars: _Bars, cfgs: Sequence[StrategyConfig], *run: object) -> None:
    n = len(cfgs)
    windows = [c.window for c in cfgs] + [c.exit_window or c.window for c in cfgs]
    distinct, rows = _rows(windows)
    his, los = _channels_nb(bars.high, bars.low, np.array(distinct))
    exit_rows = np.where([c.exit_window is not None for c in cfgs], rows[n:], -1)
    _breakout_grid_nb(bars.close, his, los, rows[:n], exit_rows, _flags(cfgs, "allow_short"),
                      *run)


# name -> adapter(bars, configs, sim, out, keep, stats): indicators once per distinct
# window, then the strategy's grid kernel over the sets.
_GRIDS: dict[str, Callable[..., None]] = {
    "sma_cross": _sma_cross,
    "sma_trend": _sma_trend,
    "mean_reversion": _mean_reversion,
    "breakout": _breakout,
}


# --- the Python API --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class FastResult:
    """Per-set figures of a grid run, in the order of `params` (one numpy array each).

    `gross_profit` sums the net P&L (after the trip's fees) of the winning round trips,
    `gross_loss` that of the losing ones (<= 0); `max_drawdown` is the largest fall of the
    close-marked equity curve (starting cash first) from its running peak, as a fraction;
    `exposure` the fraction of bars that end with a position. `fill_log` (with
    record_fills=True) holds one structured array per set with fields bar_index, side
    (+1 buy, -1 sell), price, qty and fee.
    """

    strategy: str
    params: list[StrategyConfig]
    settings: FastSettings
    final_value: np.ndarray
    cash: np.ndarray
    position: np.ndarray
    fills: np.ndarray
    closed_trades: np.ndarray
    open_trades: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    gross_profit: np.ndarray
    gross_loss: np.ndarray
    fees: np.ndarray
    max_drawdown: np.ndarray
    exposure: np.ndarray
    fill_log: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.params)

    def to_rows(self) -> list[dict[str, object]]:
        """One JSON-ready dict per set: its parameters, then the figures."""
        rows = []
        for i, cfg in enumerate(self.params):
            row: dict[str, object] = dataclasses.asdict(cfg)
            for name in FIGURES:
                value = getattr(self, name)[i]
                row[name] = int(value) if name in _COUNTS else float(value)
            rows.append(row)
        return rows


def supports(strategy: str) -> bool:
    """Whether `strategy` has a fast path."""
    return strategy in _GRIDS


def _configs(strategy: str, param_sets: Sequence[Mapping[str, object] | StrategyConfig]
             ) -> list[StrategyConfig]:
    if not supports(strategy):
        raise InvalidInput("strategy", strategy,
                           f"has no fast path; fast strategies: {', '.join(sorted(_GRIDS))}")
    _, config_cls = lookup(strategy)
    return [p if isinstance(p, config_cls)
            else config_from_params(config_cls, p, source=f"strategy {strategy}")
            for p in param_sets]


def _bars(bars: Mapping[str, np.ndarray]) -> _Bars:
    cols = {}
    for name in ("open", "high", "low", "close"):
        if name not in bars:
            raise InvalidInput("bars", sorted(bars), f"has no {name!r} column")
        col = np.ascontiguousarray(bars[name], dtype=np.float64)
        if col.ndim != 1 or not np.isfinite(col).all():
            raise InvalidInput(f"bars.{name}", col.shape, "must be one finite value per bar")
        cols[name] = col
    if len({len(c) for c in cols.values()}) != 1:
        raise InvalidInput("bars", {n: len(c) for n, c in cols.items()},
                           "columns must have the same length")
    return _Bars(**cols)


def signals(strategy: str, bars: Mapping[str, np.ndarray],
            params: Mapping[str, object] | StrategyConfig) -> np.ndarray:
    """The int8 code per bar (1 LONG, -1 SHORT, 2 FLAT, 0 none) that `strategy` with
    `params` emits over `bars`, as the strategy class would bar by bar."""
    cfgs = _configs(strategy, [params])
    checked = _bars(bars)
    return _codes(strategy, checked, cfgs, _sim(checked, FastSettings()))[0]


def run_grid(strategy: str, bars: Mapping[str, np.ndarray],
             param_sets: Sequence[Mapping[str, object] | StrategyConfig],
             settings: FastSettings = FastSettings(), *,
             record_fills: bool = False) -> FastResult:
    """Backtest every parameter set of `strategy` over `bars` (one symbol, oldest first).

    Raises ConfigError naming the key for a bad parameter (as the event path does) and
    InvalidInput for an unsupported strategy or malformed bars."""
    if not isinstance(settings, FastSettings):
        raise InvalidInput("settings", settings, "must be a FastSettings")
    cfgs = _configs(strategy, param_sets)
    checked = _bars(bars)
    sim = _sim(checked, settings)
    stats = np.zeros((len(cfgs), N_STATS))
    log: list[np.ndarray] | None = None
    if not record_fills:
        if cfgs and len(checked.close):
            with _threads_for(len(cfgs), len(checked.close)):
                _GRIDS[strategy](checked, cfgs, sim, np.zeros((0, 0), np.int8), False, stats)
        else:                                      # no bars: nothing happens to the cash
            stats[:, [FINAL_VALUE, CASH]] = settings.cash
    else:
        log = []
        for lo in range(0, len(cfgs), _CHUNK):     # codes of _CHUNK sets held at once
            part, rows = cfgs[lo:lo + _CHUNK], stats[lo:lo + _CHUNK]
            codes, shorts = _codes(strategy, checked, part, sim), _flags(part, "allow_short")
            starts = np.zeros(len(part) + 1, np.int64)
            with _threads_for(len(part), len(checked.close)):
                simulate_grid_nb(codes, sim, shorts, rows, np.empty((0, 5)), starts)  # counts
                starts[1:] = np.cumsum(rows[:, FILLS])
                fills = np.empty((starts[-1], 5))
                simulate_grid_nb(codes, sim, shorts, rows, fills, starts)
            log.extend(_fill_records(fills[a:b]) for a, b in zip(starts[:-1], starts[1:],
                                                                 strict=True))
    figures = {name: stats[:, col].astype(np.int64) if name in _COUNTS else stats[:, col].copy()
               for col, name in enumerate(FIGURES)}
    return FastResult(strategy, cfgs, settings, fill_log=log, **figures)


@contextlib.contextmanager
def _threads_for(n_sets: int, n_bars: int) -> Iterator[None]:
    """One Numba thread for small work (a parallel region costs milliseconds on a busy
    machine), the configured number otherwise."""
    if n_sets > 1 and n_sets * n_bars >= _PARALLEL_MIN_WORK:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _codes(strategy: str, bars: _Bars, cfgs: Sequence[StrategyConfig], sim: tuple
           ) -> np.ndarray:
    out = np.zeros((len(cfgs), len(bars.close)), np.int8)
    if len(cfgs) and len(bars.close):
        with _threads_for(len(cfgs), len(bars.close)):
            _GRIDS[strategy](bars, cfgs, sim, out, True, np.zeros((0, N_STATS)))
    return out


def _sim(bars: _Bars, settings: FastSettings) -> tuple:
    """The `sim` tuple of the grid kernels: (open, close, *_kernel_scalars(settings))."""
    return (bars.open, bars.close, *_kernel_scalars(settings))


def _kernel_scalars(s: FastSettings) -> tuple:
    """(fill_close, fixed, q_fixed, fee_bps, step, step_units, scale, cash) for the kernel."""
    decimals = _step_decimals(s.qty_step)
    scale = 10.0 ** decimals
    q_fixed = Instrument("FAST", qty_step=s.qty_step).floor_qty(s.quantity) \
        if s.sizing == "fixed" else 0.0
    return (s.fill == "close", s.sizing == "fixed", float(q_fixed), float(s.fee_bps),
            float(s.qty_step), float(round(s.qty_step * scale)), scale, float(s.cash))


def _fill_records(rows: np.ndarray) -> np.ndarray:
    out = np.zeros(len(rows), FILL_DTYPE)
    for col, name in enumerate(FILL_DTYPE.names):
        out[name] = rows[:, col]
    return out
