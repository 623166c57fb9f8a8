"""Helpers that the session tests share (imported as a plain module from ``tests/``)."""

from __future__ import annotations

from typing import Any

from flatsync import Publisher, Replica


def pump(pub: Publisher, client: Any, replica: Replica) -> list[Any]:
    """Drain ``client``, deliver in order, send the replica's answer back; return the events."""
    events: list[Any] = []
    for packet in pub.packets_for(client):
        events.extend(replica.receive(packet))
    reply = replica.packet_to_send()
    if reply is not None:
        pub.receive(client, reply)
    return events
