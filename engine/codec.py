"""JSON encoding of messages with orjson, and decoding back to the same typed objects.

orjson serialises the slotted dataclasses and enums natively; the envelope adds the type
name so a stream of mixed messages decodes without a schema on the side.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from enum import Enum
from typing import Any

import orjson

from engine.errors import InvalidInput, UnknownName
from engine.messages import ALL_MESSAGES

_TYPES: dict[str, type] = {cls.__name__: cls for cls in ALL_MESSAGES}


def _enum_of(hint: Any) -> type[Enum] | None:
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        for arg in typing.get_args(hint):
            if isinstance(arg, type) and issubclass(arg, Enum):
                return arg
    return None


def _converters(cls: type) -> dict[str, Callable[[Any], Any]]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Callable[[Any], Any]] = {}
    for f in dataclasses.fields(cls):
        enum = _enum_of(hints[f.name])
        if enum is not None:
            out[f.name] = lambda v, e=enum: None if v is None else e(v)
    return out


_CONVERT = {name: _converters(cls) for name, cls in _TYPES.items()}


def encode(msg: Any) -> bytes:
    """One message as JSON bytes: `{"type": "OrderFilled", "body": {...}}`."""
    name = type(msg).__name__
    if name not in _TYPES:
        raise InvalidInput("message", type(msg).__name__, "not a Phalanx message type")
    return orjson.dumps({"type": name, "body": msg})


def decode(data: bytes | str) -> Any:
    """The message that `encode` produced. Raises InvalidInput on malformed data."""
    try:
        obj = orjson.loads(data)
        name, body = obj["type"], obj["body"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidInput("data", data[:80], f"not an encoded message ({exc})") from exc
    cls = _TYPES.get(name)
    if cls is None:
        raise UnknownName("message type", str(name), list(_TYPES))
    for key, convert in _CONVERT[name].items():
        if key in body:
            try:
                body[key] = convert(body[key])
            except ValueError as exc:
                raise InvalidInput(f"{name}.{key}", body[key], str(exc)) from exc
    try:
        return cls(**body)
    except TypeError as exc:
        raise InvalidInput(name, body, str(exc)) from exc
