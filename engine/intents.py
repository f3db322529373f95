"""From a target direction to the orders that reach it: a pure function, no I/O.

Given where a symbol stands (the position and the orders still working on it) and where
the signal wants it (+1 long, -1 short, 0 flat), `plan` says which working orders to
cancel, how much to close with a reduce-only order and whether to open a new position.

- Opening orders that point away from the target are cancelled (a FLAT signal while an
  entry is still working cancels the entry rather than closing what never filled), and
  so are signal closes of a position the target now wants to keep. Protective exits
  (stop loss, take profit, ...) are never cancelled by a signal.
- The close covers the position less what working reduce-only orders already cover, so
  the close never exceeds the position.
- A new position is opened only when nothing already working opens it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.enums import ExitReason
from engine.orders import Order


@dataclass(frozen=True, slots=True)
class Plan:
    cancel: tuple[str, ...] = ()
    close_qty: float = 0.0       # reduce-only, against the position
    open: bool = False

    @property
    def empty(self) -> bool:
        return not (self.cancel or self.close_qty or self.open)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def plan(want: int, position: float, working: Iterable[Order]) -> Plan:
    """`working`: the symbol's orders that may still fill (open or not yet sent)."""
    held = _sign(position)
    keep = want != 0 and held == want
    cancel: list[str] = []
    opening = covered = 0   # sums in the orders' order; one pass, as this runs per signal
    for o in working:
        sign = o.side.sign
        if o.reduce_only:
            if keep and o.reason is ExitReason.SIGNAL:
                cancel.append(o.client_order_id)
            if sign == -held:
                covered += o.leaves_qty
        elif sign != want:
            cancel.append(o.client_order_id)
        else:
            opening += sign * o.leaves_qty
    close_qty = 0.0
    if position and held != want:
        close_qty = max(0.0, abs(position) - covered)
    open_new = want != 0 and held != want and opening == 0
    return Plan(tuple(cancel), close_qty, open_new)
