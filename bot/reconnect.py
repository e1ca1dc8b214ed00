"""Keep a connection that kefu opens to a platform (DingTalk Stream, Feishu long connection) open:
connect again at once after a close the server asked for, with a doubling backoff after an error."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
_QUERY = re.compile(r"\?[^\s'\"]*")  # a connection URL's query carries its ticket or access key


async def keep_connected(
    label: str,
    connect: Callable[[], Awaitable[None]],
    errors: tuple[type[BaseException], ...],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_backoff: float = MAX_BACKOFF_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``connect`` (one connection, returning when it closed cleanly) until cancelled. After
    one of ``errors`` wait, 1 s then twice as long each time up to ``max_backoff``; a connection
    that stayed up longer than that starts the backoff over. Other exceptions end the loop."""
    backoff = 1.0
    while True:
        started = monotonic()
        try:
            await connect()
            backoff = 1.0  # closed as the server asked: at once, and from the start
        except errors as e:
            if monotonic() - started > max_backoff:
                backoff = 1.0
            reason = _QUERY.sub("?…", str(e))
            log.warning("%s: %s: %s; connecting again in %.0fs", label, type(e).__name__, reason, backoff)
            await sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
