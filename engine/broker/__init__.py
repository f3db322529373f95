"""The broker interface, its results and the adapter registry."""

from engine.broker.interface import (
    Balance,
    Broker,
    BrokerResult,
    Credentials,
    FillReport,
    Health,
    OrderReport,
    PositionReport,
    Session,
)
from engine.broker.registry import broker_names, create_broker, register_broker

__all__ = [
    "Balance", "Broker", "BrokerResult", "Credentials", "FillReport", "Health", "OrderReport",
    "PositionReport", "Session", "broker_names", "create_broker", "register_broker",
]
