"""Broker name in config -> adapter factory. New brokers register; the core is untouched.

    @register_broker("mybroker")
    def _make(**options) -> Broker: ...

    broker = create_broker("mybroker", api_url="...")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.broker.interface import Broker
from engine.errors import InvalidInput, UnknownName

BrokerFactory = Callable[..., Broker]
_FACTORIES: dict[str, BrokerFactory] = {}


def register_broker(name: str) -> Callable[[BrokerFactory], BrokerFactory]:
    def decorate(factory: BrokerFactory) -> BrokerFactory:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise InvalidInput("broker", name, "is already registered")
        _FACTORIES[name] = factory
        return factory
    return decorate


def create_broker(name: str, **options: Any) -> Broker:
    _load_builtin()
    factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownName("broker", name, list(_FACTORIES))
    return factory(**options)


def broker_names() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES)


def _load_builtin() -> None:
    import engine.sim.broker  # noqa: F401  (registers "sim")
