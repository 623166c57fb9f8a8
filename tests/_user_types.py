"""Value types registered for the tests: a dataclass, an Enum, a datetime and a UUID."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid
from typing import Any

from hypothesis import strategies as st

import flatsync


@dataclasses.dataclass(frozen=True)
class Vec2:
    x: float
    y: float


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


def _vec2(tree: Any) -> Vec2:
    x, y = tree  # a peer's tree: unpacking checks the shape
    if type(x) is not float or type(y) is not float:
        raise TypeError("Vec2 holds two floats")
    return Vec2(x, y)


def _datetime(tree: Any) -> datetime.datetime:
    if type(tree) is not str:
        raise TypeError("a datetime travels as ISO 8601 text")
    return datetime.datetime.fromisoformat(tree)


def _uuid(tree: Any) -> uuid.UUID:
    if type(tree) is not bytes:
        raise TypeError("a UUID travels as its 16 bytes")
    return uuid.UUID(bytes=tree)


flatsync.register_type(Vec2, name="Vec2", to_tree=lambda v: (v.x, v.y), from_tree=_vec2)
flatsync.register_type(Color, name="Color", to_tree=lambda c: c.value, from_tree=Color)
flatsync.register_type(
    datetime.datetime,
    name="datetime",
    to_tree=lambda d: d.isoformat(),
    from_tree=_datetime,
)
flatsync.register_type(uuid.UUID, name="UUID", to_tree=lambda u: u.bytes, from_tree=_uuid)

finite = st.floats(allow_nan=False)
user_values = st.one_of(
    st.builds(Vec2, finite, finite),
    st.sampled_from(Color),
    st.datetimes(timezones=st.sampled_from([None, datetime.UTC])),
    st.uuids(),
)
