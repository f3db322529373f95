"""Synthetic market data for demos, tests and users without data of their own.

Per symbol, the log price follows a jump diffusion whose volatility switches between two or
three regimes (a continuous-time Markov chain):

    d log S = (drift - sigma_r**2 / 2) dt + sigma_r dW + J dN

where `r` is the current regime, `N` a Poisson process of `jumps_per_day` and the log jump
sizes `J` are Normal(`jump_mean`, `jump_std`) (Merton 1976). A regime lasts an exponential
time with mean `regime_durations_s[r]` and then moves to one of the other regimes with equal
probability, so the long-run share of time in each regime is proportional to its mean
duration. Drift and volatilities are annualised over calendar time (365.25 days of 24 h).

Quotes arrive as a Poisson process (mean spacing `quote_interval_s`). The spread is
`spread_bps` of the mid in the first regime, scaled by `(sigma_r / sigma_0) **
spread_vol_elasticity` and by log-normal noise, and never less than `min_spread_ticks`.
Bid and ask sit on the instrument's tick grid with `ask - bid >= min_spread_ticks` ticks;
sizes are on its quantity step, at least one step and at least `min_qty`, and thin out
when volatility is high. Bars sample the same kind of path on a regular grid of
`bar_substeps` points per bar; their volume grows with volatility.

Everything is vectorised with numpy: a million quotes take a fraction of a second. Each
symbol draws from its own random streams, derived from `seed` and the symbol's name, so
a symbol's data do not depend on which other symbols are generated with it, and asking for
more quotes or bars extends the series rather than redrawing it.
"""

from __future__ import annotations

import math
import numbers
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

import numpy as np

from engine.errors import ConfigError, InvalidInput
from engine.instruments import Instrument
from engine.messages import Bar, QuoteTick

SECONDS_PER_YEAR = 365.25 * 86_400.0
NANOS_PER_SECOND = 1_000_000_000
_2024_01_01_NS = 1_704_067_200 * NANOS_PER_SECOND

# Salts that separate the random streams of quotes and bars of the same symbol and seed.
_QUOTES, _BARS = 0, 1
# Independent streams per component, so that each is a prefix-stable sequence.
_STREAMS = ("arrivals", "regime_next", "regime_time", "diffusion", "jump_count", "jump_size",
            "spread", "bid_size", "ask_size", "volume")


# --- configuration -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    """Parameters of the synthetic market. Validated on construction (ConfigError)."""

    seed: int = 7
    start_ns: int = _2024_01_01_NS          # time of the first bar's open / quote stream start
    initial_price: float = 100.0
    initial_prices: Mapping[str, float] = field(default_factory=dict)  # per-symbol override
    drift: float = 0.0                       # annualised expected return
    regime_vols: tuple[float, ...] = (0.2, 0.5, 1.2)           # annualised, per regime
    regime_durations_s: tuple[float, ...] = (14_400.0, 3_600.0, 900.0)  # mean time in each
    initial_regime: int | None = None       # None: drawn from the long-run distribution
    jumps_per_day: float = 4.0
    jump_mean: float = 0.0                   # of the log jump size
    jump_std: float = 0.005                  # of the log jump size
    quote_interval_s: float = 1.0            # mean time between quotes of one symbol
    spread_bps: float = 2.0                  # typical spread in the first regime
    spread_vol_elasticity: float = 1.0       # spread ~ (sigma_r / sigma_0) ** elasticity
    spread_noise: float = 0.25               # log-normal sigma of the spread
    min_spread_ticks: int = 1
    quote_size: float = 100.0                # typical size at bid and at ask, first regime
    quote_size_noise: float = 0.5            # log-normal sigma of the sizes
    volume_per_s: float = 20.0               # mean traded quantity per second, first regime
    bar_substeps: int = 60                   # path points per bar

    def __post_init__(self) -> None:
        _integer("seed", self.seed, lo=0)
        _integer("start_ns", self.start_ns, lo=0)
        _real("initial_price", self.initial_price, positive=True)
        if not isinstance(self.initial_prices, Mapping):
            raise ConfigError("initial_prices", "must be a mapping of symbol to price")
        for symbol, price in self.initial_prices.items():
            if not isinstance(symbol, str):
                raise ConfigError("initial_prices", f"key {symbol!r} is not a symbol string")
            _real(f"initial_prices[{symbol}]", price, positive=True)
        object.__setattr__(self, "initial_prices", dict(self.initial_prices))  # a private copy
        _real("drift", self.drift)
        vols = _regime_tuple("regime_vols", self.regime_vols)
        durations = _regime_tuple("regime_durations_s", self.regime_durations_s)
        if len(durations) != len(vols):
            raise ConfigError("regime_durations_s",
                              f"has {len(durations)} entries, regime_vols has {len(vols)}")
        object.__setattr__(self, "regime_vols", vols)
        object.__setattr__(self, "regime_durations_s", durations)
        if self.initial_regime is not None:
            _integer("initial_regime", self.initial_regime, lo=0, hi=len(vols) - 1)
        _real("jumps_per_day", self.jumps_per_day, non_negative=True)
        _real("jump_mean", self.jump_mean)
        _real("jump_std", self.jump_std, non_negative=True)
        _real("quote_interval_s", self.quote_interval_s, positive=True)
        if self.quote_interval_s * NANOS_PER_SECOND < 1.0:
            raise ConfigError("quote_interval_s", "must be at least one nanosecond")
        _real("spread_bps", self.spread_bps, positive=True)
        _real("spread_vol_elasticity", self.spread_vol_elasticity, non_negative=True)
        _real("spread_noise", self.spread_noise, non_negative=True)
        _integer("min_spread_ticks", self.min_spread_ticks, lo=1)
        _real("quote_size", self.quote_size, positive=True)
        _real("quote_size_noise", self.quote_size_noise, non_negative=True)
        _real("volume_per_s", self.volume_per_s, positive=True)
        _integer("bar_substeps", self.bar_substeps, lo=1)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str | None = None
                     ) -> SyntheticConfig:
        """A config from a parsed file section. Unknown keys are errors; lists become tuples."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ConfigError(str(key), f"unknown key; known: {', '.join(sorted(known))}",
                                  source)
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            if source is None:
                raise
            raise ConfigError(exc.key, exc.reason, source) from exc

    def price_for(self, symbol: str) -> float:
        return float(self.initial_prices.get(symbol, self.initial_price))


def _integer(key: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ConfigError(key, f"must be an integer, not {type(value).__name__} {value!r}")
    if lo is not None and value < lo:
        raise ConfigError(key, f"must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise ConfigError(key, f"must be <= {hi}, got {value}")
    return int(value)


def _real(key: str, value: object, *, positive: bool = False,
          non_negative: bool = False) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ConfigError(key, f"must be a number, not {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ConfigError(key, f"must be finite, got {value}")
    if positive and value <= 0:
        raise ConfigError(key, f"must be > 0, got {value}")
    if non_negative and value < 0:
        raise ConfigError(key, f"must be >= 0, got {value}")
    return float(value)


def _regime_tuple(key: str, values: object) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ConfigError(key, f"must be a sequence of 2 or 3 numbers, not {values!r}")
    if len(values) not in (2, 3):
        raise ConfigError(key, f"must have 2 or 3 entries (one per regime), got {len(values)}")
    return tuple(_real(f"{key}[{i}]", v, positive=True) for i, v in enumerate(values))


# --- results -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, eq=False)  # arrays do not compare as one bool
class QuoteArrays:
    """Quotes of several symbols as struct-of-arrays, ordered by time (then symbol).

    `symbol_id` indexes `symbols`. `regime` (the volatility regime at the quote) and
    `jumps` (price jumps since the symbol's previous quote) expose the hidden state.
    """

    symbols: tuple[str, ...]
    symbol_id: np.ndarray   # int32
    ts_ns: np.ndarray       # int64
    bid: np.ndarray         # float64
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    regime: np.ndarray      # int8
    jumps: np.ndarray       # int32

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def mid(self) -> np.ndarray:
        return (self.bid + self.ask) * 0.5

    def select(self, symbol: str) -> QuoteArrays:
        """The quotes of one symbol (its `symbols` is then just that symbol)."""
        keep = self.symbol_id == _index_of(self.symbols, symbol)
        return _subset(self, keep, (symbol,))

    def ticks(self) -> Iterator[QuoteTick]:
        """The quotes as `QuoteTick` messages, in order (ts_init = ts_event)."""
        names = self.symbols
        for sid, ts, bid, ask, bsz, asz in zip(
                self.symbol_id.tolist(), self.ts_ns.tolist(), self.bid.tolist(),
                self.ask.tolist(), self.bid_size.tolist(), self.ask_size.tolist(),
                strict=True):
            yield QuoteTick(names[sid], bid, ask, bsz, asz, ts, ts)


@dataclass(frozen=True, slots=True, eq=False)  # arrays do not compare as one bool
class BarArrays:
    """OHLCV bars of several symbols as struct-of-arrays, ordered by time (then symbol).

    `ts_ns` is the bar's close time: the bar covers (ts_ns - interval, ts_ns].
    """

    symbols: tuple[str, ...]
    symbol_id: np.ndarray   # int32
    ts_ns: np.ndarray       # int64
    open: np.ndarray        # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)

    def select(self, symbol: str) -> BarArrays:
        keep = self.symbol_id == _index_of(self.symbols, symbol)
        return _subset(self, keep, (symbol,))

    def bars(self) -> Iterator[Bar]:
        """The bars as `Bar` messages, in order (ts_init = ts_event)."""
        names = self.symbols
        for sid, ts, o, h, lo, c, v in zip(
                self.symbol_id.tolist(), self.ts_ns.tolist(), self.open.tolist(),
                self.high.tolist(), self.low.tolist(), self.close.tolist(),
                self.volume.tolist(), strict=True):
            yield Bar(names[sid], o, h, lo, c, v, ts, ts)


def _index_of(symbols: tuple[str, ...], symbol: str) -> int:
    try:
        return symbols.index(symbol)
    except ValueError:
        raise InvalidInput("symbol", symbol, f"not in {list(symbols)}") from None


def _subset(arrays: Any, keep: np.ndarray, symbols: tuple[str, ...]) -> Any:
    columns = {f.name: getattr(arrays, f.name)[keep] for f in fields(arrays)
               if f.name not in ("symbols", "symbol_id")}
    return type(arrays)(symbols=symbols, symbol_id=np.zeros(int(keep.sum()), np.int32),
                        **columns)


# --- public functions --------------------------------------------------------------------

def generate_quotes(instruments: Sequence[Instrument | str], n_per_symbol: int,
                    config: SyntheticConfig | None = None) -> QuoteArrays:
    """`n_per_symbol` quotes for each instrument, merged in timestamp order.

    A plain string stands for `Instrument(symbol)` (tick 0.01, quantity step 1e-8).
    """
    cfg = config or SyntheticConfig()
    insts = _instruments(instruments)
    n = _count("n_per_symbol", n_per_symbol)
    parts = [_quotes_of_one(inst, n, cfg) for inst in insts]
    return _merge(QuoteArrays, tuple(i.symbol for i in insts), parts)


def iter_quote_ticks(instruments: Sequence[Instrument | str], n_per_symbol: int,
                     config: SyntheticConfig | None = None) -> Iterator[QuoteTick]:
    """The quotes of `generate_quotes` as `QuoteTick` messages in timestamp order."""
    return generate_quotes(instruments, n_per_symbol, config).ticks()


def generate_bar_arrays(instruments: Sequence[Instrument | str], n_bars: int,
                        interval_ns: int, config: SyntheticConfig | None = None
                        ) -> BarArrays:
    """`n_bars` consecutive OHLCV bars of `interval_ns` per instrument, from `start_ns`."""
    cfg = config or SyntheticConfig()
    insts = _instruments(instruments)
    n = _count("n_bars", n_bars)
    if not isinstance(interval_ns, numbers.Integral) or isinstance(interval_ns, bool) \
            or interval_ns <= 0:
        raise InvalidInput("interval_ns", interval_ns, "must be a positive integer")
    parts = [_bars_of_one(inst, n, int(interval_ns), cfg) for inst in insts]
    return _merge(BarArrays, tuple(i.symbol for i in insts), parts)


def generate_bars(instruments: Sequence[Instrument | str], n_bars: int, interval_ns: int,
                  config: SyntheticConfig | None = None) -> list[Bar]:
    """The bars of `generate_bar_arrays` as `Bar` messages in timestamp order."""
    return list(generate_bar_arrays(instruments, n_bars, interval_ns, config).bars())


def _instruments(instruments: Sequence[Instrument | str]) -> list[Instrument]:
    if isinstance(instruments, (str, Instrument)):
        instruments = [instruments]
    out = [Instrument(i) if isinstance(i, str) else i for i in instruments]
    for inst in out:
        if not isinstance(inst, Instrument):
            raise InvalidInput("instruments", inst, "must be an Instrument or a symbol")
    symbols = [i.symbol for i in out]
    if not symbols:
        raise InvalidInput("instruments", instruments, "must name at least one instrument")
    if len(set(symbols)) != len(symbols):
        raise InvalidInput("instruments", symbols, "symbols must be unique")
    return out


def _count(name: str, n: object) -> int:
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
        raise InvalidInput(name, n, "must be an integer >= 0")
    return int(n)


def _merge(kind: type, symbols: tuple[str, ...], parts: list[dict[str, np.ndarray]]) -> Any:
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    ids = np.concatenate([np.full(len(p["ts_ns"]), i, np.int32) for i, p in enumerate(parts)])
    if len(parts) > 1:
        order = np.argsort(columns["ts_ns"], kind="stable")   # ties keep symbol order
        columns = {k: v[order] for k, v in columns.items()}
        ids = ids[order]
    return kind(symbols=symbols, symbol_id=ids, **columns)


# --- the process -------------------------------------------------------------------------

def _streams(cfg: SyntheticConfig, symbol: str, salt: int) -> dict[str, np.random.Generator]:
    root = np.random.SeedSequence([cfg.seed, zlib.crc32(symbol.encode()), salt])
    return {name: np.random.default_rng(s) for name, s in zip(
        _STREAMS, root.spawn(len(_STREAMS)), strict=True)}


def _regimes_at(t_s: np.ndarray, cfg: SyntheticConfig,
                rng: dict[str, np.random.Generator]) -> np.ndarray:
    """The regime at each time (seconds from the start, non-decreasing)."""
    means = np.asarray(cfg.regime_durations_s)
    m = len(means)
    if cfg.initial_regime is None:
        first = int(rng["regime_next"].choice(m, p=means / means.sum()))
    else:
        first = cfg.initial_regime
    t_end = float(t_s[-1]) if len(t_s) else 0.0
    states: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    current, elapsed = first, 0.0
    chunk = int(t_end / means.min()) // 4 + 64
    while True:
        # the next regime is one of the others, with equal probability
        steps = rng["regime_next"].integers(1, m, size=chunk)
        seq = (current + np.concatenate(([0], np.cumsum(steps[:-1])))) % m
        seg_end = elapsed + np.cumsum(rng["regime_time"].exponential(means[seq]))
        states.append(seq)
        ends.append(seg_end)
        if seg_end[-1] > t_end:
            break
        current, elapsed = int((seq[-1] + steps[-1]) % m), float(seg_end[-1])
    all_states = np.concatenate(states)
    return all_states[np.searchsorted(np.concatenate(ends), t_s, side="right")].astype(np.int8)


def _log_path(dt_s: np.ndarray, regime: np.ndarray, p0: float, cfg: SyntheticConfig,
              rng: dict[str, np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
    """Log prices after each step `dt_s` (the first step may be 0), and jumps per step."""
    n = len(dt_s)
    sigma = np.asarray(cfg.regime_vols)[regime]
    dt_y = dt_s / SECONDS_PER_YEAR
    increments = (cfg.drift - 0.5 * sigma * sigma) * dt_y
    increments += sigma * np.sqrt(dt_y) * rng["diffusion"].standard_normal(n)
    jumps = rng["jump_count"].poisson(cfg.jumps_per_day / 86_400.0 * dt_s).astype(np.int32)
    z = rng["jump_size"].standard_normal(n)
    increments += np.where(jumps > 0, jumps * cfg.jump_mean + np.sqrt(jumps) * cfg.jump_std * z,
                           0.0)
    return math.log(p0) + np.cumsum(increments), jumps


def _decimals(step: float) -> int:
    exponent = Decimal(repr(float(step))).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _on_grid(units: np.ndarray, step: float) -> np.ndarray:
    return np.round(units * step, _decimals(step))


def _sizes(raw: np.ndarray, inst: Instrument) -> np.ndarray:
    """`raw` floored onto the quantity step, never below one step nor below `min_qty`."""
    step = inst.qty_step
    floor_units = max(1.0, math.ceil(inst.min_qty / step - 1e-9))
    units = np.maximum(np.floor(raw / step + 1e-9), floor_units)
    return _on_grid(units, step)


def _vol_ratio(regime: np.ndarray, cfg: SyntheticConfig) -> np.ndarray:
    vols = np.asarray(cfg.regime_vols)
    return (vols / vols[0])[regime]


def _quotes_of_one(inst: Instrument, n: int, cfg: SyntheticConfig) -> dict[str, np.ndarray]:
    rng = _streams(cfg, inst.symbol, _QUOTES)
    mean_gap_ns = cfg.quote_interval_s * NANOS_PER_SECOND
    gaps = np.maximum(1, np.rint(rng["arrivals"].exponential(mean_gap_ns, n))).astype(np.int64)
    offsets = np.cumsum(gaps)
    ts_ns = cfg.start_ns + offsets
    t_s = offsets / NANOS_PER_SECOND
    regime = _regimes_at(t_s, cfg, rng) if n else np.zeros(0, np.int8)
    dt_s = np.diff(t_s, prepend=t_s[:1])     # the first quote is at the initial price
    log_mid, jumps = _log_path(dt_s, regime, cfg.price_for(inst.symbol), cfg, rng)

    tick = inst.price_tick
    ratio = _vol_ratio(regime, cfg)
    mid_units = np.exp(log_mid) / tick
    noise = np.exp(cfg.spread_noise * rng["spread"].standard_normal(n)
                   - 0.5 * cfg.spread_noise ** 2)
    spread_units = mid_units * (cfg.spread_bps * 1e-4) * ratio ** cfg.spread_vol_elasticity
    width = np.maximum(np.ceil(spread_units * noise - 1e-9), cfg.min_spread_ticks)
    bid_units = np.maximum(np.floor(mid_units - 0.5 * width), 1.0)
    ask_units = bid_units + width

    depth = cfg.quote_size / np.sqrt(ratio)    # books thin out when volatility is high
    s = cfg.quote_size_noise
    bid_size = depth * np.exp(s * rng["bid_size"].standard_normal(n) - 0.5 * s * s)
    ask_size = depth * np.exp(s * rng["ask_size"].standard_normal(n) - 0.5 * s * s)
    return {
        "ts_ns": ts_ns,
        "bid": _on_grid(bid_units, tick),
        "ask": _on_grid(ask_units, tick),
        "bid_size": _sizes(bid_size, inst),
        "ask_size": _sizes(ask_size, inst),
        "regime": regime,
        "jumps": jumps,
    }


def _bars_of_one(inst: Instrument, n_bars: int, interval_ns: int, cfg: SyntheticConfig
                 ) -> dict[str, np.ndarray]:
    rng = _streams(cfg, inst.symbol, _BARS)
    k = cfg.bar_substeps
    n_points = n_bars * k + 1                  # the first point is the first bar's open
    dt = interval_ns / k / NANOS_PER_SECOND
    t_s = np.arange(n_points) * dt
    regime = _regimes_at(t_s, cfg, rng)
    dt_s = np.full(n_points, dt)
    dt_s[0] = 0.0
    log_path, _ = _log_path(dt_s, regime, cfg.price_for(inst.symbol), cfg, rng)
    tick = inst.price_tick
    units = np.maximum(np.rint(np.exp(log_path) / tick), 1.0)

    inside = units[1:].reshape(n_bars, k)
    open_u = units[:-1:k]
    close_u = units[k::k]
    high_u = np.maximum(open_u, inside.max(axis=1, initial=0.0))
    low_u = np.minimum(open_u, inside.min(axis=1, initial=np.inf))

    # traded quantity per step: gamma with mean volume_per_s * dt, more when volatile
    mean_step = cfg.volume_per_s * dt * _vol_ratio(regime[1:], cfg)
    shape = 2.0
    step_volume = rng["volume"].gamma(shape, mean_step / shape)
    volume = step_volume.reshape(n_bars, k).sum(axis=1)
    ts_ns = cfg.start_ns + interval_ns * np.arange(1, n_bars + 1, dtype=np.int64)
    return {
        "ts_ns": ts_ns,
        "open": _on_grid(open_u, tick),
        "high": _on_grid(high_u, tick),
        "low": _on_grid(low_u, tick),
        "close": _on_grid(close_u, tick),
        "volume": _sizes(volume, inst),
    }
