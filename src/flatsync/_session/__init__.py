"""Layer 4: sessions without I/O.

``_frames`` (the frame header), ``_views`` (what each client sees),
``_state`` (the client state machine: modes, the transition table, the
publisher's indexes), ``_publisher`` and ``_replica`` (the two sides),
``_events`` (what the replica reports about a packet) and ``_records`` (the
record registry, as the frame headers' schema tables use it).
"""
