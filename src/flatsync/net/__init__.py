"""flatsync.net: the sessions over TCP and WebSocket, with asyncio (``pip install flatsync[net]``).

A :class:`Server` owns a :class:`~flatsync.Publisher` and serves it to
:class:`Client` objects, each of which holds a :class:`~flatsync.Replica`.
Everything about state stays in the sans-I/O sessions below; this package
moves their packets, adds the handshake (protocol version, codec, session
identity), flow control, application messages, pings, resumption after a lost
connection, and LAN discovery. It is the only part of flatsync that opens
sockets. TCP needs nothing beyond the standard library; WebSocket needs the
``websockets`` package (the ``net`` extra). The docs' protocol page gives the
messages byte for byte.
"""

from __future__ import annotations

from .._public import publish
from ._client import Client, Connected, Disconnected, Message, NetEvent, ServerRefused
from ._discovery import (
    ANNOUNCE_PORT,
    BROADCAST,
    DISCOVERY_PORT,
    Announcement,
    Announcer,
    DatagramError,
    ServerInfo,
    decode_datagram,
    discover,
)
from ._messages import PROTOCOL_VERSION, Kind, ProtocolError
from ._server import Peer, Refused, Server

__all__ = [
    "ANNOUNCE_PORT",
    "BROADCAST",
    "DISCOVERY_PORT",
    "PROTOCOL_VERSION",
    "Announcement",
    "Announcer",
    "Client",
    "Connected",
    "DatagramError",
    "Disconnected",
    "Kind",
    "Message",
    "NetEvent",
    "Peer",
    "ProtocolError",
    "Refused",
    "Server",
    "ServerInfo",
    "ServerRefused",
    "decode_datagram",
    "discover",
]

publish("flatsync.net", globals(), __all__)
