"""Messages are frozen value objects, and every one of them survives the JSON codec."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.codec import decode, encode
from engine.enums import ExitReason, OrderSide, SignalSide
from engine.errors import InvalidInput, UnknownName
from engine.messages import (
    ALL_MESSAGES,
    ORDER_EVENTS,
    OrderFilled,
    QuoteTick,
    Signal,
    SubmitOrder,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(st.characters(codec="utf-8"), max_size=20)


def _strategy(hint: object) -> st.SearchStrategy:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return st.one_of(*(st.none() if a is type(None) else _strategy(a)
                           for a in typing.get_args(hint)))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    return {float: FLOATS, int: INT64, str: TEXT, bool: st.booleans()}[hint]


def messages_of(cls: type) -> st.SearchStrategy:
    """Every field drawn, optionals included (None or a value)."""
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)})


def representative(cls: type):
    """One instance per message type, with every field filled deterministically."""
    hints = typing.get_type_hints(cls)
    values = {}
    for i, f in enumerate(dataclasses.fields(cls)):
        hint = hints[f.name]
        if isinstance(hint, types.UnionType):
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        if isinstance(hint, type) and issubclass(hint, Enum):
            values[f.name] = list(hint)[-1]
        else:
            values[f.name] = {float: 1.5 + i, int: 1_700_000_000_000_000_000 + i,
                              str: f"{f.name}-{i}", bool: True}[hint]
    return cls(**values)


def _same_types(a, b) -> bool:
    return all(type(getattr(a, f.name)) is type(getattr(b, f.name))
               for f in dataclasses.fields(a))


# --- the messages themselves -------------------------------------------------------------

def test_message_types_are_unique_and_order_events_are_included():
    names = [cls.__name__ for cls in ALL_MESSAGES]
    assert len(names) == len(set(names))
    assert set(ORDER_EVENTS) <= set(ALL_MESSAGES)


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_every_message_is_a_frozen_slotted_dataclass_with_integer_timestamps(cls):
    msg = representative(cls)
    assert dataclasses.is_dataclass(msg)
    assert hasattr(cls, "__slots__") and not hasattr(msg, "__dict__")
    hints = typing.get_type_hints(cls)
    assert hints["ts_event"] is int and hints["ts_init"] is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.ts_event = 0  # type: ignore[misc]


def test_messages_compare_and_hash_by_value():
    a = representative(QuoteTick)
    b = representative(QuoteTick)
    assert a == b and hash(a) == hash(b)
    assert dataclasses.replace(a, bid=0.5) != a


def test_defaults_of_submit_order_and_signal():
    order = SubmitOrder("A", "C", "X", OrderSide.BUY, 1.0, 1, 1)
    assert order.price is None and order.reduce_only is False
    assert order.reason is ExitReason.NONE
    signal = Signal("s", "strat", "X", SignalSide.LONG, 1, 1)
    assert signal.confidence == 1.0 and signal.stop_loss is None


# --- round trips -------------------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_representative_message_round_trips_with_the_same_types(cls):
    msg = representative(cls)
    back = decode(encode(msg))
    assert back == msg
    assert type(back) is cls
    assert _same_types(back, msg)   # enums come back as enums, not strings


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
def test_message_with_its_defaults_and_none_optionals_round_trips(cls):
    required = {f.name: getattr(representative(cls), f.name) for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING}
    msg = cls(**required)
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize("cls", ALL_MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_message_round_trips_through_the_codec(cls, data):
    msg = data.draw(messages_of(cls))
    back = decode(encode(msg))
    assert back == msg
    assert _same_types(back, msg)


def test_decode_accepts_str_as_well_as_bytes():
    msg = representative(OrderFilled)
    assert decode(encode(msg).decode()) == msg


def test_encoded_form_names_the_type_and_writes_enums_as_values():
    raw = orjson.loads(encode(representative(SubmitOrder)))
    assert raw["type"] == "SubmitOrder"
    assert raw["body"]["side"] == "SELL"
    assert raw["body"]["reason"] == int(ExitReason.MANUAL)


# --- malformed data ----------------------------------------------------------------------

def _encoded(cls=OrderFilled, **changes) -> bytes:
    raw = orjson.loads(encode(representative(cls)))
    for key, value in changes.items():
        if value is _DROP:
            del raw["body"][key]
        else:
            raw["body"][key] = value
    return orjson.dumps(raw)


_DROP = object()


@pytest.mark.parametrize("data", [
    b"", b"not json", b"{", b"[]", b"42", b"null", b'"text"',
    b'{"body": {}}', b'{"type": "QuoteTick"}',
    b'{"type": ["QuoteTick"], "body": {}}', b'{"type": 7, "body": {}}',
    b'{"type": "QuoteTick", "body": 5}', b'{"type": "QuoteTick", "body": []}',
    b'{"type": "OrderFilled", "body": "side"}', b'{"type": "QuoteTick", "body": null}',
    42, None, 3.5, ["QuoteTick"], b"\xff\xfe",
], ids=repr)
def test_malformed_data_raises_invalid_input(data):
    with pytest.raises(InvalidInput):
        decode(data)


def test_unknown_message_type_raises_unknown_name_listing_the_known_types():
    with pytest.raises(UnknownName) as info:
        decode(b'{"type": "QuoteTock", "body": {}}')
    assert info.value.name == "QuoteTock"
    assert "QuoteTick" in info.value.known


@pytest.mark.parametrize(("field", "value"), [
    ("side", "SIDEWAYS"), ("side", 1), ("side", None), ("liquidity", "BOTH"),
    ("last_qty", "1.0"), ("last_qty", None), ("last_qty", True), ("last_qty", [1.0]),
    ("ts_event", "1"), ("ts_event", 1.5), ("ts_event", None),
    ("symbol", 5), ("symbol", None), ("trade_id", {"a": 1}),
])
def test_field_of_the_wrong_type_or_value_raises_invalid_input_naming_it(field, value):
    with pytest.raises(InvalidInput) as info:
        decode(_encoded(**{field: value}))
    assert info.value.field == f"OrderFilled.{field}"


def test_bad_exit_reason_code_raises_invalid_input():
    with pytest.raises(InvalidInput) as info:
        decode(_encoded(SubmitOrder, reason=99))
    assert info.value.field == "SubmitOrder.reason"


def test_missing_field_raises_invalid_input():
    with pytest.raises(InvalidInput):
        decode(_encoded(last_px=_DROP))


def test_unknown_field_raises_invalid_input():
    with pytest.raises(InvalidInput):
        decode(_encoded(colour="blue"))


def test_nan_in_a_required_float_does_not_decode_silently_as_none():
    encoded = encode(QuoteTick("X", float("nan"), 1.0, 1.0, 1.0, 1, 1))
    with pytest.raises(InvalidInput) as info:
        decode(encoded)
    assert info.value.field == "QuoteTick.bid"


def test_encoding_something_that_is_not_a_message_raises_invalid_input():
    lookalike = dataclasses.make_dataclass("QuoteTick", [("symbol", str)])  # same name
    for bad in ({"type": "QuoteTick"}, 42, lookalike("X")):
        with pytest.raises(InvalidInput):
            encode(bad)


def test_encoding_a_field_orjson_cannot_serialize_raises_invalid_input():
    msg = QuoteTick("X", np.float64(1.0), 2.0, 1.0, 1.0, 1, 1)
    with pytest.raises(InvalidInput):
        encode(msg)
