"""The webhook hot path as bare ASGI: ``/webhooks/<platform>[/<name>]`` verified and enqueued
without Starlette.

Starlette's middleware stack (error and exception middleware, each wrapping ``send``) and its
router (a regex per route) cost a webhook about a fifth of its acknowledgement, and a webhook
needs none of it: the raw query, the (already lower-case) headers, a size-capped body, one
response. ``Dispatcher`` sends those paths straight to ``WebhookEndpoint`` and everything else
(the web channel, health, metrics, lifespan, and odd webhook requests: other methods, trailing
slashes, a root path) to the Starlette app, which answers them exactly as before.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.channel import WebhookError, WebhookRequest
from bot.runtime import Runtime

PREFIX = "/webhooks/"
_FAST_METHODS = frozenset({"GET", "POST"})


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, declared_length: str | None, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes without reading it all into memory."""
    if declared_length and declared_length.isdigit() and int(declared_length) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class WebhookEndpoint:
    """One callback: adapter lookup, body, gateway, one response. Reads ``path_params`` set by
    the ``Dispatcher`` or, for the requests it leaves to Starlette, by Starlette's router."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.limit = runtime.settings.server.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body, content_type = await self._answer(scope, receive)
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes, str]:
        platform = scope["path_params"]["platform"]
        name = scope["path_params"].get("name", "default")
        adapter = self.runtime.adapters.get((platform, name))
        if adapter is None:
            return _refused(404, f"no {platform} app named {name!r} is configured")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await read_body(receive, headers.get("content-length"), self.limit)
        except BodyTooLarge:
            return _refused(413, f"body over {self.limit} bytes")
        except ClientDisconnect:
            return _refused(400, "client went away")
        hook = WebhookRequest(
            method=scope["method"],
            query=parse_query(scope["query_string"]),
            headers=headers,
            body=body,
            received_at=self.runtime.clock(),
        )
        try:
            result = await self.runtime.gateway.accept(adapter, hook)
        except WebhookError as e:
            return _refused(e.status, e.reason)
        except RedisError:
            # The platform retries a non-2xx callback: nothing is lost while Redis is away.
            return _refused(503, "storage unavailable, retry later")
        return result.status, result.body, result.content_type


def parse_query(query_string: bytes) -> dict[str, str]:
    """``dict(parse_qsl(query, keep_blank_values=True))``. Without '%' or '+' there is nothing to
    unquote, and splitting costs a third of parse_qsl: signed WeCom queries never need it."""
    query = query_string.decode("latin-1")
    if "%" in query or "+" in query:
        return dict(parse_qsl(query, keep_blank_values=True))
    return dict(field.partition("=")[::2] for field in query.split("&") if field)


def _refused(status: int, message: str) -> tuple[int, bytes, str]:
    return status, json.dumps({"error": message}).encode(), "application/json"


class Dispatcher:
    """The top-level ASGI app: webhook callbacks to ``webhook``, the rest to ``app``."""

    def __init__(self, webhook: WebhookEndpoint, app: ASGIApp) -> None:
        self.webhook = webhook
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _FAST_METHODS and not scope.get("root_path"):
            path = scope["path"]
            if path.startswith(PREFIX):
                # Starlette's "{platform}" and "{platform}/{name}": one or two non-empty segments.
                parts = path[len(PREFIX) :].split("/")
                if 1 <= len(parts) <= 2 and all(parts):
                    params = {"platform": parts[0]} if len(parts) == 1 else {"platform": parts[0], "name": parts[1]}
                    scope["path_params"] = params
                    return await self.webhook(scope, receive, send)
        await self.app(scope, receive, send)
