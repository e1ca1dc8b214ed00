"""The one outbound HTTP client (bot/http.py) against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.http import MAX_CONNECTIONS_PER_HOST, HttpClient
from tests.support.lookup_servers import serving


def _answering_after(seconds: float) -> Starlette:
    async def answer(_: Request) -> JSONResponse:
        await asyncio.sleep(seconds)
        return JSONResponse({"errcode": 0})

    return Starlette(routes=[Route("/", answer, methods=["GET", "POST"])])


def test_a_slow_host_holding_every_connection_it_may_have_does_not_hold_other_hosts() -> None:
    # A shop that stalls while lookups pile up must not hold the replies to other customers,
    # which go to the platform through the same client.
    with serving(_answering_after(3.0)) as slow, serving(_answering_after(0.0)) as platform:

        async def scenario() -> tuple[bool, int]:
            async with HttpClient(timeout=10.0) as http:
                stalled = [asyncio.create_task(http.get(slow)) for _ in range(MAX_CONNECTIONS_PER_HOST + 10)]
                await asyncio.sleep(0.5)  # every connection the slow host may have is open and waiting
                reply = await http.post(platform, json={"text": "您好"})
                still_waiting = sum(not task.done() for task in stalled)
                await asyncio.gather(*stalled)
                return reply.status_code == 200, still_waiting

        answered, still_waiting = asyncio.run(scenario())
    assert answered
    assert still_waiting == MAX_CONNECTIONS_PER_HOST + 10
