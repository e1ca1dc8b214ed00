"""The ASGI app: the web channel, the platform webhooks, health and metrics.

Webhook handlers only verify and enqueue (bot/gateway.py); the work happens in the workers.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.channel import WebhookError, WebhookRequest
from bot.message import InboundMessage
from bot.nlu.normalize import MAX_TEXT_CHARS
from bot.runtime import Runtime

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes without reading it all into memory."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(runtime: Runtime, lifespan=None) -> Starlette:  # type: ignore[no-untyped-def]
    limit = runtime.settings.server.max_body_bytes

    async def chat(request: Request) -> Response:
        try:
            body = await read_body(request, limit)
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

    async def webhook(request: Request) -> Response:
        platform = request.path_params["platform"]
        name = request.path_params.get("name", "default")
        adapter = runtime.adapters.get((platform, name))
        if adapter is None:
            return error(404, f"no {platform} app named {name!r} is configured")
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            return error(413, f"body over {limit} bytes")
        except ClientDisconnect:
            return error(400, "client went away")
        hook = WebhookRequest(
            method=request.method,
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            received_at=runtime.clock(),
        )
        try:
            result = await runtime.gateway.accept(adapter, hook)
        except WebhookError as e:
            return error(e.status, e.reason)
        except RedisError:
            # The platform retries a non-2xx callback: nothing is lost while Redis is away.
            return error(503, "storage unavailable, retry later")
        return Response(result.body, status_code=result.status, media_type=result.content_type)

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
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/api/chat", chat, methods=["POST"]),
        Route("/webhooks/{platform}", webhook, methods=["GET", "POST"]),
        Route("/webhooks/{platform}/{name}", webhook, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
