"""The outbound HTTP client every adapter sends through: aiohttp behind a small, httpx-like face.

Sending is the hottest path after the ack: measured on loopback, an httpx request costs about
0.8-1.5 ms of CPU and an aiohttp request about 0.1 ms (bench/gateway_load.py shows the effect).
Adapters see only ``HttpClient``, ``HttpResponse`` and ``HttpError``.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy


class HttpError(Exception):
    """The request did not get an HTTP answer: refused, reset, timed out. Always worth a retry."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status_code: int
    headers: CIMultiDictProxy[str] | Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class HttpClient:
    """One connection pool for the process; the session is opened in the loop that first uses it."""

    def __init__(self, timeout: float = 10.0, connect_timeout: float = 5.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=aiohttp.TCPConnector(limit=100))
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        send_headers = dict(headers or {})
        if json is not None:
            # UTF-8 as is: the platforms count and show \uXXXX escapes literally.
            content = jsonlib.dumps(json, ensure_ascii=False).encode()
            send_headers.setdefault("content-type", "application/json; charset=utf-8")
        try:
            async with self._open().request(method, url, params=params, data=content, headers=send_headers) as response:
                return HttpResponse(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise HttpError(f"{type(e).__name__}") from None

    async def post(self, url: str, **kwargs: Any) -> HttpResponse:
        return await self.request("POST", url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> HttpResponse:
        return await self.request("GET", url, **kwargs)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "HttpClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
