"""One batch of a sweep, in one process: the function each Ray task runs (and the unit
tests run directly).

A batch is a list of (set_index, params). Every set yields one result row: status 'ok'
with the metrics, or 'failed' with the error (a bad parameter combination, a backtest that
raised, a strategy that stopped on an exception); one bad set never stops the others.

Two paths give the same figures for the same set:
- "fast": `strategies.fast.run_grid` over the whole batch at once (Numba), when the
  strategy has a fast path and the settings are ones it reproduces exactly;
- "event": `run_backtest` per set (the live code on a simulated clock).
Both hand their fills to `trip_figures`/`curve_figures`, so the metrics beyond the
engine's own (final value, cash, position, fills, closed trades) are computed once, the
same way, from the fills and the closes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from actors.backtest import BacktestConfig, FillAt, run_backtest
from actors.backtest_data import BarSeries, TickSeries
from engine.errors import PhalanxError
from engine.messages import OrderSide

Batch = Sequence[tuple[int, Mapping[str, Any]]]
YEAR_NS = 365.25 * 86_400 * 1e9


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """What every set of a sweep shares: the strategy, the account and fill settings (an
    event-path config whose params each set replaces) and the path chosen for it.
    `fast` holds the strategies.fast.FastSettings when path == "fast"."""

    strategy: str
    config: BacktestConfig
    path: str = "event"
    fast: Any = None


def run_batch(spec: SweepSpec, data: BarSeries | TickSeries, batch: Batch
              ) -> list[dict[str, Any]]:
    """The result rows of `batch`, in its order."""
    if spec.path == "fast":
        return _fast_batch(spec, data, batch)
    return [_event_set(spec, data, index, params) for index, params in batch]


def failed(index: int, params: Mapping[str, Any], error: BaseException | str,
           status: str = "failed") -> dict[str, Any]:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"set_index": index, "params": dict(params), "status": status, "error": text}


# --- the event path -------------------------------------------------------------------------
def _event_set(spec: SweepSpec, data: BarSeries | TickSeries, index: int,
               params: Mapping[str, Any]) -> dict[str, Any]:
    try:
        cfg = dataclasses.replace(spec.config, strategy=spec.strategy, params=dict(params),
                                  db=None)
        result = run_backtest(data, cfg)
    except Exception as exc:        # noqa: BLE001 - one set's failure is that set's result
        return failed(index, params, exc)
    if result.failure is not None:
        return failed(index, params, f"strategy stopped: {result.failure.error}")
    fills = _event_fills(result.fills, data, cfg.fill)
    row = {"set_index": index, "params": dict(params), "status": "ok", "error": None,
           "final_value": result.final_value, "cash": result.cash,
           "position": result.position, "fills": len(result.fills),
           "closed_trades": len(result.trades), "open_trades": result.open_trades,
           **trip_figures(fills)}
    if isinstance(data, BarSeries):
        row.update(curve_figures(fills, data.close, cfg.cash, _ppy(data)))
    else:                           # ticks: the engine's own per-bar curve
        row.update(_curve_stats(np.concatenate([[cfg.cash], result.equity]), math.nan))
        row["exposure"] = None
    row["total_return"] = result.final_value / cfg.cash - 1.0
    return row


def _event_fills(fills: Sequence[Any], data: BarSeries | TickSeries, fill: FillAt
                 ) -> np.ndarray:
    """OrderFilled events as rows (bar index, side +1/-1, price, qty, fee). A fill at a
    bar's open (next_open) belongs to that bar; any other to the bar whose end it is at or
    before (a fill at the close, a protective exit inside the bar)."""
    out = np.zeros((len(fills), 5))
    if not fills:
        return out
    ts = np.array([f.ts_event for f in fills], dtype=np.int64)
    if isinstance(data, BarSeries):
        at_open = np.searchsorted(data.ts_ns, ts, side="left")
        at_end = np.searchsorted(data.ts_ns + data.interval_ns, ts, side="left")
        hit = (at_open < len(data)) & (data.ts_ns[np.minimum(at_open, len(data) - 1)] == ts)
        out[:, 0] = np.where(hit & (fill is FillAt.NEXT_OPEN), at_open, at_end)
    out[:, 1] = [1.0 if f.side is OrderSide.BUY else -1.0 for f in fills]
    out[:, 2] = [f.last_px for f in fills]
    out[:, 3] = [f.last_qty for f in fills]
    out[:, 4] = [f.fee for f in fills]
    return out


# --- the fast path --------------------------------------------------------------------------
def _fast_batch(spec: SweepSpec, data: BarSeries | TickSeries, batch: Batch
                ) -> list[dict[str, Any]]:
    from strategies.config import config_from_params
    from strategies.registry import lookup

    _, config_cls = lookup(spec.strategy)
    rows: dict[int, dict[str, Any]] = {}
    good: list[tuple[int, Mapping[str, Any], Any]] = []
    for index, params in batch:             # a bad combination fails alone, not the batch
        try:
            good.append((index, params, config_from_params(
                config_cls, params, source=f"strategy {spec.strategy}")))
        except (PhalanxError, ValueError) as exc:
            rows[index] = failed(index, params, exc)
    if good:
        try:
            rows.update(_fast_rows(spec, data, good))
        except Exception:           # noqa: BLE001 - the set(s) at fault, found one by one
            for one in good:
                try:
                    rows.update(_fast_rows(spec, data, [one]))
                except Exception as exc:    # noqa: BLE001 - that set's result
                    rows[one[0]] = failed(one[0], one[1], exc)
    return [rows[index] for index, _ in batch]


def _fast_rows(spec: SweepSpec, data: BarSeries, good: Sequence[tuple[int, Mapping, Any]]
               ) -> dict[int, dict[str, Any]]:
    from strategies.fast import run_grid

    result = run_grid(spec.strategy, data.columns(), [cfg for _, _, cfg in good], spec.fast,
                      record_fills=True)
    ppy = _ppy(data)
    rows = {}
    for k, (index, params, _) in enumerate(good):
        log = result.fill_log[k]
        fills = np.column_stack([log["bar_index"], log["side"], log["price"], log["qty"],
                                 log["fee"]]).astype(float).reshape(-1, 5)
        final = float(result.final_value[k])
        rows[index] = {"set_index": index, "params": dict(params), "status": "ok",
                       "error": None, "final_value": final, "cash": float(result.cash[k]),
                       "position": float(result.position[k]), "fills": int(result.fills[k]),
                       "closed_trades": int(result.closed_trades[k]),
                       "open_trades": int(result.open_trades[k]),
                       "total_return": final / spec.config.cash - 1.0,
                       **trip_figures(fills),
                       **curve_figures(fills, data.close, spec.config.cash, ppy)}
    return rows


# --- figures from fills, the same for both paths ---------------------------------------------
def trip_figures(fills: np.ndarray) -> dict[str, Any]:
    """Wins, losses and their net P&L (after every fill's fee) from the fill rows; a trip
    ends on the fill that brings the position back to zero."""
    fee_total = float(fills[:, 4].sum()) if len(fills) else 0.0
    signed = fills[:, 1] * fills[:, 3]
    pos = np.add.accumulate(signed) if len(fills) else signed
    ends = np.flatnonzero(np.abs(pos) <= 1e-12 * np.maximum(np.abs(signed), 1.0))
    if len(ends) == 0:
        return {"wins": 0, "losses": 0, "win_rate": 0.0, "gross_profit": 0.0,
                "gross_loss": 0.0, "fees": fee_total}
    starts = np.concatenate([[0], ends[:-1] + 1])
    flows = (signed * fills[:, 2] + fills[:, 4])[:ends[-1] + 1]    # an open trip: not yet
    net = -np.add.reduceat(flows, starts)
    wins, losses = int((net > 0).sum()), int((net < 0).sum())
    trips = wins + losses
    return {"wins": wins, "losses": losses, "win_rate": wins / trips if trips else 0.0,
            "gross_profit": float(net[net > 0].sum()), "gross_loss": float(net[net < 0].sum()),
            "fees": fee_total}


def curve_figures(fills: np.ndarray, close: np.ndarray, cash0: float, ppy: float
                  ) -> dict[str, Any]:
    """Sharpe, max drawdown and exposure of the close-marked equity curve rebuilt from the
    fill rows; cash moves as the Portfolio moves it, fill after fill:
    cash -= side x qty x price + fee. The curve is rebuilt in one Numba pass
    (`actors.sweep_kernels.curve_pass_nb`); the Sharpe ratio is NumPy's mean over its
    sample standard deviation of the curve's simple returns, annualised by `ppy`."""
    from actors.sweep_kernels import curve_pass_nb

    n = len(close)
    returns, drawdown, held = curve_pass_nb(
        np.ascontiguousarray(fills, dtype=np.float64).reshape(-1, 5),
        np.asarray(close, dtype=np.float64), float(cash0))
    return {"max_drawdown": max(float(drawdown), 0.0), "sharpe": _sharpe(returns, ppy),
            "exposure": held / n if n else 0.0}


def _curve_stats(curve: np.ndarray, ppy: float) -> dict[str, Any]:
    """Sharpe and max drawdown of a given equity curve (the tick path's own curve)."""
    peak = np.maximum.accumulate(curve)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = float(np.nanmax(1.0 - curve / peak)) if len(curve) else 0.0
        returns = curve[1:] / curve[:-1] - 1.0
    return {"max_drawdown": max(drawdown, 0.0), "sharpe": _sharpe(returns, ppy)}


def _sharpe(returns: np.ndarray, ppy: float) -> float | None:
    """Mean over sample standard deviation of the returns, annualised by `ppy`; None
    without two returns, a finite `ppy` or a finite, positive deviation."""
    if len(returns) < 2 or not math.isfinite(ppy):
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        std = float(np.std(returns, ddof=1))
        if not (std > 0 and math.isfinite(std)):
            return None
        return float(np.mean(returns)) / std * math.sqrt(ppy)


def _ppy(data: BarSeries) -> float:
    """Bars per year as sampled (data.analytics.periods_per_year's rule)."""
    ends = data.ts_ns + data.interval_ns
    if len(ends) < 2 or ends[-1] <= ends[0]:
        return math.nan
    return (len(ends) - 1) / ((int(ends[-1]) - int(ends[0])) / YEAR_NS)
