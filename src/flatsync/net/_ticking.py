"""The fixed-rate tick loop of :class:`flatsync.net.Server` and :class:`flatsync.relay.Origin`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["tick_at"]


async def tick_at(
    rate: float,
    step: Callable[[], object],
    stopped: Callable[[], bool],
    ticks: int | None = None,
) -> None:
    """Call ``step()`` ``rate`` times a second until ``stopped()`` (or ``ticks`` calls).

    A slow machine that falls more than a period behind skips ahead rather
    than catching up with a burst.
    """
    loop = asyncio.get_running_loop()
    period = 1.0 / rate
    deadline = loop.time()
    done = 0
    while not stopped() and (ticks is None or done < ticks):
        step()
        done += 1
        deadline += period
        delay = deadline - loop.time()
        if delay < -period:
            deadline = loop.time()
            delay = 0
        await asyncio.sleep(max(0.0, delay))
