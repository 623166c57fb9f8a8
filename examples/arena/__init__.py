"""Arena: a small networked multiplayer game built on flatsync.

Players walk a walled board and race to pick up gems. The server owns the
state (the board is a :class:`flatsync.ByteHandler`, the players are
:func:`flatsync.record` classes in a :class:`flatsync.DataHandler`), runs the
game at a fixed tick rate and
sends each client, through a :class:`flatsync.Publisher`, exactly what its view
shows: a snapshot when it joins, one delta per tick after that. Clients hold a
:class:`flatsync.Replica` and draw it.

The modules, from the inside out:

* :mod:`arena.game`: the rules. No sockets, no clocks: ``step()`` advances one tick.
* :mod:`arena.server`: the game's side of a :class:`flatsync.net.Server`: players join,
  steer and leave; the tick loop.
* :mod:`arena.client`: a :class:`flatsync.net.Client` with this player's id and statistics.
* :mod:`arena.bot`: a client that plays by itself.
* :mod:`arena.tui`: the terminal client (curses).

Connections, framing, flow control, faults and LAN discovery are
:mod:`flatsync.net`'s.

Run ``python -m arena --help`` from the ``examples`` folder (``bash
scripts/demo.sh`` does it for you).
"""
