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


def _optional_base(hint: Any) -> tuple[Any, bool]:
    """(`X`, True) for `X | None`; (hint, False) otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


def _check_json_type(kinds: tuple[type, ...]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise TypeError(f"expected {' or '.join(k.__name__ for k in kinds)}, "
                            f"got {type(value).__name__}")
        return value
    return check


def _converter(hint: Any) -> Callable[[Any], Any]:
    """Turns the JSON value of a field into the field's type, or raises ValueError/TypeError."""
    base, optional = _optional_base(hint)
    if isinstance(base, type) and issubclass(base, Enum):
        convert: Callable[[Any], Any] = base
    elif base is float:
        convert = _check_json_type((float, int))
    elif base in (int, str, bool):
        convert = _check_json_type((base,))
    else:
        convert = _check_json_type((object,))

    def converted(value: Any) -> Any:
        if value is None:
            if optional:
                return None
            raise TypeError("must not be null (NaN and infinity encode as null)")
        return convert(value)
    return converted


def _converters(cls: type) -> dict[str, Callable[[Any], Any]]:
    hints = typing.get_type_hints(cls)
    return {f.name: _converter(hints[f.name]) for f in dataclasses.fields(cls)}


_CONVERT = {name: _converters(cls) for name, cls in _TYPES.items()}


def encode(msg: Any) -> bytes:
    """One message as JSON bytes: `{"type": "OrderFilled", "body": {...}}`."""
    name = type(msg).__name__
    if _TYPES.get(name) is not type(msg):
        raise InvalidInput("message", name, "not a Phalanx message type")
    try:
        return orjson.dumps({"type": name, "body": msg})
    except orjson.JSONEncodeError as exc:   # e.g. a numpy scalar in a field
        raise InvalidInput(name, msg, f"cannot be encoded ({exc})") from exc


def _preview(data: object) -> object:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[:80])
    return data[:80] if isinstance(data, str) else data


def decode(data: bytes | str) -> Any:
    """The message that `encode` produced. Raises InvalidInput on malformed data, UnknownName
    on an unknown message type."""
    try:
        obj = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise InvalidInput("data", _preview(data), f"not JSON ({exc})") from exc
    if not isinstance(obj, dict) or "type" not in obj or "body" not in obj:
        raise InvalidInput("data", _preview(data),
                           'not an encoded message: expected {"type": ..., "body": {...}}')
    name, body = obj["type"], obj["body"]
    if not isinstance(name, str):
        raise InvalidInput("type", name, "must be the name of a message type")
    cls = _TYPES.get(name)
    if cls is None:
        raise UnknownName("message type", name, list(_TYPES))
    if not isinstance(body, dict):
        raise InvalidInput(f"{name}.body", body, "must be a JSON object")
    for key, convert in _CONVERT[name].items():
        if key in body:
            try:
                body[key] = convert(body[key])
            except (ValueError, TypeError) as exc:
                raise InvalidInput(f"{name}.{key}", body[key], str(exc)) from exc
    try:
        return cls(**body)
    except TypeError as exc:  # missing or unknown fields
        raise InvalidInput(name, body, str(exc)) from exc
