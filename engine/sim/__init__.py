"""The simulated broker: a synchronous matching core (`SimVenue`) and its async
`Broker` face (`SimBroker`, registered as "sim"), with pluggable slippage and fees and
seeded latency and fault injection.

    broker = SimBroker([Instrument("SPY")], {"acct-1": SimAccount(100_000.0, "k", "s")},
                       clock=SimClock(), fill_model=FillModel(slippage=FixedTickSlippage(1)))
    broker.on_quote(QuoteTick("SPY", 99.99, 100.01, 500, 500, ts, ts))
    session = (await broker.login(Credentials("acct-1", "k", "s"))).value
"""

from engine.sim.account import SimAccount
from engine.sim.broker import SimBroker, create_sim_broker
from engine.sim.faults import Fault, FaultConfig, FaultInjector, LatencyModel
from engine.sim.models import (
    BarFillRule,
    BpsSlippage,
    FillModel,
    FixedTickSlippage,
    InstrumentFees,
    NoSlippage,
    ScheduleFees,
    Touch,
)
from engine.sim.venue import SimVenue

__all__ = [
    "BarFillRule", "BpsSlippage", "Fault", "FaultConfig", "FaultInjector", "FillModel",
    "FixedTickSlippage", "InstrumentFees", "LatencyModel", "NoSlippage", "ScheduleFees",
    "SimAccount", "SimBroker", "SimVenue", "Touch", "create_sim_broker",
]
