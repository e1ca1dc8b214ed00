"""The outbound HTTP client every adapter sends through: aiohttp behind a small, httpx-like face.

Sending is the hottest path after the ack: measured on loopback, an httpx request costs about
0.8-1.5 ms of CPU and an aiohttp request about 0.1 ms (bench/gateway_load.py shows the effect).
Adapters see only ``HttpClient``, ``HttpResponse`` and ``HttpError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from yarl import URL


class HttpError(Exception):
    """The request did not get an HTTP answer: refused, reset, timed out. Always worth a retry."""


class HttpTimeout(HttpError):
    """No (whole) answer within the timeout: retrying makes the caller wait as long again."""


class ResponseTooLarge(Exception):
    """The answer's body is over the caller's ``max_bytes``; it was not read whole."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status_code: int
    headers: CIMultiDictProxy[str] | Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return orjson.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


# Connections to one host at a time, and in all. Lookups and replies share the client: a shop that
# stalls while lookups pile up may take its hundred, and the platform still has its own.
MAX_CONNECTIONS_PER_HOST = 100
MAX_CONNECTIONS = 400


class HttpClient:
    """One connection pool for the process; the session is opened in the loop that first uses it."""

    def __init__(self, timeout: float = 10.0, connect_timeout: float = 5.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=MAX_CONNECTIONS_PER_HOST),
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> HttpResponse:
        """``url`` as a ``URL(..., encoded=True)`` is sent exactly as given (signed targets);
        ``timeout`` bounds this request alone; a body over ``max_bytes`` is ``ResponseTooLarge``."""
        send_headers = dict(headers or {})
        if json is not None:
            # UTF-8 as is: the platforms count and show \uXXXX escapes literally.
            content = orjson.dumps(json)
            send_headers.setdefault("content-type", "application/json; charset=utf-8")
        extra: dict[str, Any] = {} if timeout is None else {"timeout": aiohttp.ClientTimeout(total=timeout)}
        try:
            async with self._open().request(
                method, url, params=params, data=content, headers=send_headers, **extra
            ) as response:
                body = await (response.read() if max_bytes is None else _read_at_most(response, max_bytes))
                return HttpResponse(response.status, response.headers, body)
        except TimeoutError as e:  # aiohttp's own timeouts are TimeoutErrors too
            raise HttpTimeout(f"{type(e).__name__}") from None
        except aiohttp.ClientError as e:
            raise HttpError(f"{type(e).__name__}") from None

    async def post(self, url: str | URL, **kwargs: Any) -> HttpResponse:
        return await self.request("POST", url, **kwargs)

    async def get(self, url: str | URL, **kwargs: Any) -> HttpResponse:
        return await self.request("GET", url, **kwargs)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _read_at_most(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body, refused as soon as it is known to be over ``max_bytes`` (declared or read)."""
    if response.content_length is not None and response.content_length > max_bytes:
        raise ResponseTooLarge(f"declared {response.content_length} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLarge(f"over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
