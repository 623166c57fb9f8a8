"""flatsync.relay: past one machine (``pip install flatsync[relay]``).

An origin runs the game and publishes each frame once into a broker;
gateway processes, each a :class:`flatsync.net.Server`, replay the frames to
their own clients in the origin's frame numbers, so a client may move from
one gateway to another and resume without a snapshot. The docs' "Scaling
out" page tells the architecture.
"""

from __future__ import annotations

from .._public import publish
from .._session._fed import FedPublisher
from ._broker import Broker, BrokerError, Feed
from ._gateway import Gateway
from ._memory import MemoryBroker
from ._nats import NatsBroker
from ._origin import BROKER_CLIENT, Origin
from ._redis import RedisBroker

__all__ = [
    "BROKER_CLIENT",
    "Broker",
    "BrokerError",
    "FedPublisher",
    "Feed",
    "Gateway",
    "MemoryBroker",
    "NatsBroker",
    "Origin",
    "RedisBroker",
]

publish("flatsync.relay", globals(), __all__)
