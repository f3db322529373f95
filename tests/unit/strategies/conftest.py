from __future__ import annotations

import numpy as np
import pytest

from engine.messages import Bar
from tests.refdata import load_orcl


@pytest.fixture(scope="session")
def orcl_bars() -> list[Bar]:
    return load_orcl()


@pytest.fixture(scope="session")
def orcl_arrays(orcl_bars: list[Bar]) -> dict[str, np.ndarray]:
    return {
        "close": np.array([b.close for b in orcl_bars]),
        "high": np.array([b.high for b in orcl_bars]),
        "low": np.array([b.low for b in orcl_bars]),
    }
