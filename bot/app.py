"""The ASGI app: the web channel, the platform webhooks, health and metrics.

Webhook handlers only verify and enqueue (bot/gateway.py); the work happens in the workers.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import asdict
from urllib.parse import parse_qsl

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bot.channel import WebhookError, WebhookRequest
from bot.message import InboundMessage
from bot.nlu.normalize import MAX_TEXT_CHARS
from bot.processes import METRICS_ENV
from bot.runtime import Runtime

log = logging.getLogger(__name__)


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


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class WebhookEndpoint:
    """``/webhooks/<platform>[/<name>]`` as a bare ASGI app: the hot path, verify and enqueue.

    Starlette's Request and Response objects cost about as much as verifying and enqueueing a
    callback, and a webhook needs none of their conveniences: the raw query, the (already
    lower-case) headers, a size-capped body, one response.
    """

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
            query=dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)),
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


def _refused(status: int, message: str) -> tuple[int, bytes, str]:
    return status, json.dumps({"error": message}).encode(), "application/json"


def metrics_registry() -> CollectorRegistry:
    """This process's metrics, or those of every process of this ``kefu serve`` (bot/processes.py)."""
    if METRICS_ENV not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def create_app(runtime: Runtime, lifespan=None) -> Starlette:  # type: ignore[no-untyped-def]
    limit = runtime.settings.server.max_body_bytes
    webhook = WebhookEndpoint(runtime)

    async def chat(request: Request) -> Response:
        try:
            body = await read_body(request.receive, request.headers.get("content-length"), limit)
            data = json.loads(body)
        except BodyTooLarge:
            return error(413, f"body over {limit} bytes")
        except (json.JSONDecodeError, UnicodeDecodeError, ClientDisconnect):
            return error(400, 'expected a JSON body {"user": ID, "text": TEXT}')
        if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data.get("user"):
            return error(400, 'expected {"user": ID, "text": TEXT} with non-empty user and string text')
        message = InboundMessage(
            channel="web", app="default", conversation_id=str(data["user"]), sender_id=str(data["user"])[:128],
            text=data["text"][:MAX_TEXT_CHARS], message_id=uuid.uuid4().hex, sent_at=runtime.clock(),
        )  # fmt: skip
        try:
            reply = await runtime.pipeline.handle(message)
        except RedisError:
            return error(503, "storage unavailable, try again shortly")
        out = asdict(reply)
        return JSONResponse({"reply": out.pop("text"), **out})

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        checks = {"model": runtime.engine.ready}
        try:
            checks["redis"] = bool(await runtime.redis.ping())
        except RedisError:
            checks["redis"] = False
        return JSONResponse(checks, status_code=200 if all(checks.values()) else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(metrics_registry()), media_type=CONTENT_TYPE_LATEST)

    routes = [  # the webhooks first: the router tries the routes in order on every request
        Route("/webhooks/{platform}", webhook, methods=["GET", "POST"]),
        Route("/webhooks/{platform}/{name}", webhook, methods=["GET", "POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
