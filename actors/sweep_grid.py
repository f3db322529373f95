"""Parameter grids of `phalanx sweep` and how they are cut into batches.

Grid syntax, one `--grid NAME=VALUES` per parameter:

- `fast=2:20:2`: start:stop:step, stop included when it lands on the grid (2, 4, ..., 20);
  integers when all three are integers, else floats rounded to the step's decimals;
- `entry_z=1.5,2,2.5` or `allow_short=true,false`: a comma list, kept in order.

The sets are the Cartesian product, the first --grid varying slowest; a set's index is its
position in that order, which is what the store keys results by (and what a resume relies
on: the same grid gives the same indices).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from engine.errors import ConfigError

Value = int | float | str
MAX_SETS = 1_000_000
TASKS_PER_CPU = 4           # several tasks per CPU: balance uneven sets, move the progress bar
MIN_BATCH = {"fast": 32, "event": 4}     # a Ray task costs ~1 ms; a fast set ~10 us


def scalar(text: str) -> Value:
    """"10" -> 10, "1.5" -> 1.5, anything else stays a string ("true", "none")."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def parse_axis(spec: str) -> tuple[str, list[Value]]:
    """"fast=2:20:2" -> ("fast", [2, 4, ..., 20]); ConfigError names the bad spec."""
    name, sep, values = spec.partition("=")
    name = name.strip()
    if not sep or not name or not values.strip():
        raise ConfigError("--grid", f"{spec!r} is not NAME=START:STOP:STEP or NAME=A,B,C")
    if ":" in values:
        return name, _range(spec, values)
    items = [scalar(v) for v in values.split(",")]
    if any(v == "" for v in items):
        raise ConfigError("--grid", f"{spec!r} has an empty value")
    if len(set(map(repr, items))) != len(items):
        raise ConfigError("--grid", f"{spec!r} repeats a value")
    return name, items


def _range(spec: str, values: str) -> list[Value]:
    parts = values.split(":")
    bad = ConfigError("--grid", f"{spec!r}: a range is START:STOP:STEP, numbers")
    if len(parts) != 3:
        raise bad
    try:
        start, stop, step = (Decimal(p.strip()) for p in parts)
    except InvalidOperation:
        raise bad from None
    if not all(d.is_finite() for d in (start, stop, step)) or step <= 0 or stop < start:
        raise ConfigError("--grid", f"{spec!r}: needs STEP > 0 and STOP >= START")
    count = int((stop - start) / step) + 1          # exact in decimal: stop kept if on grid
    if count > MAX_SETS:
        raise ConfigError("--grid", f"{spec!r} has {count:,} values (at most {MAX_SETS:,})")
    points = [start + i * step for i in range(count)]
    if all(d == d.to_integral_value() for d in (start, step)):
        return [int(p) for p in points]
    return [float(p) for p in points]


def parse_grid(specs: Sequence[str]) -> dict[str, list[Value]]:
    """The axes in the order given; ConfigError for none, a repeated name or too many sets."""
    if not specs:
        raise ConfigError("--grid", "give at least one --grid NAME=VALUES")
    axes: dict[str, list[Value]] = {}
    for spec in specs:
        name, values = parse_axis(spec)
        if name in axes:
            raise ConfigError("--grid", f"{name!r} is given twice")
        axes[name] = values
    size = math.prod(len(v) for v in axes.values())
    if size > MAX_SETS:
        raise ConfigError("--grid", f"{size:,} parameter sets (at most {MAX_SETS:,})")
    return axes


def expand(axes: Mapping[str, Sequence[Value]],
           fixed: Mapping[str, Value] | None = None) -> list[dict[str, Value]]:
    """Every set: the fixed parameters, then one value per axis; index = position."""
    fixed = dict(fixed or {})
    clash = sorted(set(fixed) & set(axes))
    if clash:
        raise ConfigError("--param", f"{', '.join(clash)} is also a --grid axis")
    names = list(axes)
    return [{**fixed, **dict(zip(names, combo, strict=True))}
            for combo in itertools.product(*(axes[n] for n in names))]


def batch_size(n_sets: int, cpus: int, path: str) -> int:
    """Sets per task: about TASKS_PER_CPU tasks per CPU, never fewer than MIN_BATCH[path]
    sets a task (and never more sets than the grid has)."""
    target = max(1, cpus) * TASKS_PER_CPU
    return max(1, min(n_sets, max(MIN_BATCH[path], math.ceil(n_sets / target))))


def batches(indices: Sequence[int], size: int) -> list[list[int]]:
    """`indices` cut into consecutive batches of at most `size`."""
    if size < 1:
        raise ValueError(f"batch size {size} must be >= 1")
    return [list(indices[lo:lo + size]) for lo in range(0, len(indices), size)]
