"""Column values on their way into DuckDB, and the quoting of names and literals.

`to_array` turns a column (numpy array, list with None for NULL, or one scalar for every
row) into the numpy array DuckDB's replacement scan reads fastest: numeric arrays as they
are (NaN in a DOUBLE column is stored as NULL), strings as object arrays (about 4x faster
to scan than fixed-width unicode), integer and boolean lists with None as masked arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def is_scalar(value: object) -> bool:
    """One value standing for a whole column (None included)."""
    return value is None or isinstance(value, (str, bytes, int, float, bool, np.generic))


def to_array(values: Any, sql_type: str, n: int) -> np.ndarray:
    """A column as the numpy array DuckDB reads fastest; None -> NULL (NaN too, in DOUBLE)."""
    if is_scalar(values):
        values = [values] * n
    if isinstance(values, np.ndarray) and values.dtype.kind in "US":
        return values.astype(object)                      # DuckDB scans these 4x faster
    if isinstance(values, np.ndarray) and values.dtype != object:
        return values
    if sql_type == "DOUBLE":
        return np.array(values, dtype=np.float64)         # None becomes NaN, stored NULL
    if sql_type in ("BIGINT", "INTEGER", "BOOLEAN"):
        mask = [v is None for v in values]
        dtype = np.bool_ if sql_type == "BOOLEAN" else np.int64
        filled = np.array([0 if v is None else v for v in values], dtype=dtype)
        return np.ma.masked_array(filled, mask=mask) if any(mask) else filled
    return np.array(values, dtype=object)


def one_line(exc: BaseException) -> str:
    """DuckDB's message without its multi-line caret drawings."""
    return " ".join(str(exc).split())


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def jsonable(value: object) -> object:
    """orjson's fallback for run configs: mappings, sets and tuples, else the str()."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
