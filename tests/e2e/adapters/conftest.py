"""Fixtures for adapter tests: a real embedded Redis, the fake platform on loopback, real deps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aredis

from bot.channel import AdapterDeps, WebhookRequest
from bot.http import HttpClient
from bot.redis_store import Keys
from bot.token_cache import TokenCache
from tests.support.clock import Clock
from tests.support.fake_platform import FakePlatform

NOW = 1_700_000_000.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        yield platform


@pytest.fixture
async def deps(redis_url: str) -> AsyncIterator[AdapterDeps]:
    redis = aredis.Redis.from_url(redis_url)
    await redis.flushdb()
    keys = Keys("test")
    async with HttpClient(timeout=5) as http:
        yield AdapterDeps(redis=redis, keys=keys, tokens=TokenCache(redis, keys), http=http, clock=Clock())
    await redis.aclose()


def request(method: str, query: dict[str, str], body: bytes = b"") -> WebhookRequest:
    return WebhookRequest(method=method, query=query, headers={}, body=body, received_at=NOW)


def encrypted_post(crypto: object, plaintext: str, now: float, nonce: str = "nonce123") -> WebhookRequest:
    """A callback as the platform sends it, sealed by the SDK's own crypto at time ``now``."""
    from xml.etree.ElementTree import (
        fromstring,  # our own trusted output, no defusing needed
    )

    sealed = fromstring(crypto.encrypt_message(plaintext, nonce, str(int(now))))  # type: ignore[attr-defined]
    body = f"<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[{sealed.findtext('Encrypt')}]]></Encrypt></xml>"
    query = {"msg_signature": sealed.findtext("MsgSignature") or "", "timestamp": str(int(now)), "nonce": nonce}
    return request("POST", query, body.encode())
