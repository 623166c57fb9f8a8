"""Scaling out on one machine: a broker, an origin, two gateway processes and bots.

Run it from the ``examples`` folder (or with ``examples`` on ``PYTHONPATH``)::

    python -m relay                      # NATS JetStream (nats-server from the venv), 10 s
    python -m relay --redis              # Redis (redis-server on PATH) instead
    python -m relay --duration 30 --bots 8
    python -m relay --broker nats://127.0.0.1:4222   # a broker that already runs

It starts a broker server on a free port of 127.0.0.1 (its data in a
temporary folder), runs the origin of a small game in this process
(:mod:`relay.game`), starts two gateways with ``python -m flatsync.relay
gateway``, and connects the bots, plain :class:`flatsync.net.Client` objects
spread over the two gateways, which steer their players from what their
replicas show. Once a second it prints the progress; after ``--duration``
seconds the origin stops ticking, and the run ends when every bot's replica
is strictly equal to the origin's state (exit status 0), or says which are
not (exit status 1). Everything it started is stopped on the way out.
"""
