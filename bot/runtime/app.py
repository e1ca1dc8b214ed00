"""The ASGI app: the web channel, the platform webhooks, health and metrics.

Webhook handlers only verify and enqueue (bot/gateway.py, served by bot/runtime/webhook_asgi.py); the
work happens in the workers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from dataclasses import asdict
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.message import InboundMessage
from bot.metrics import REDIS_ERRORS, count_message
from bot.nlu.normalize import MAX_TEXT_CHARS
from bot.parsing import Malformed, load_json
from bot.pipeline import Reply
from bot.processes import METRICS_ENV
from bot.runtime import Runtime
from bot.runtime.metrics_state import state_metrics
from bot.runtime.webhook_asgi import BodyTooLarge, Dispatcher, WebhookEndpoint, read_body

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 2.0
# /api/chat in an HTTP process that holds no model: how long it waits for a worker's reply.
CHAT_TIMEOUT_SECONDS = 10.0


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def metrics_registry() -> CollectorRegistry:
    """This process's metrics, or those of every process of this ``kefu serve`` (bot/processes.py)."""
    if METRICS_ENV not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


async def _redis_check(runtime: Runtime) -> str:
    """Either "ok" or why Redis cannot be used (an address at most, never a password: redis-py's
    messages carry none). Bounded: a readiness probe that hangs tells the prober nothing."""
    try:
        await asyncio.wait_for(runtime.redis.ping(), READY_TIMEOUT_SECONDS)
    except TimeoutError:  # asyncio's (builtin) TimeoutError is an OSError: before it
        return f"no answer within {READY_TIMEOUT_SECONDS:.0f}s"
    except (RedisError, OSError) as e:
        return f"{type(e).__name__}: {e}"
    return "ok"


async def _answer(runtime: Runtime, message: InboundMessage) -> Reply | None:
    """The pipeline's reply, here or, in a process that holds no model, from a worker process
    through the inbox (None when none came in time)."""
    if runtime.holds_models:
        return await runtime.pipeline.handle(message)
    await runtime.gateway.enqueue(message)
    return await runtime.web_replies.wait(message.message_id, CHAT_TIMEOUT_SECONDS)


def create_app(runtime: Runtime, lifespan: Any = None) -> Dispatcher:
    limit = runtime.settings.server.max_body_bytes
    webhook = WebhookEndpoint(runtime)

    async def chat(request: Request) -> Response:
        try:
            body = await read_body(request.receive, request.headers.get("content-length"), limit)
            data = load_json(body)
        except BodyTooLarge:
            return error(413, f"body over {limit} bytes")
        except (Malformed, ClientDisconnect):
            return error(400, 'expected a JSON body {"user": ID, "text": TEXT}')
        if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data.get("user"):
            return error(400, 'expected {"user": ID, "text": TEXT} with non-empty user and string text')
        message = InboundMessage(
            channel="web", app="default", conversation_id=str(data["user"]), sender_id=str(data["user"])[:128],
            text=data["text"][:MAX_TEXT_CHARS], message_id=uuid.uuid4().hex, sent_at=runtime.clock(),
        )  # fmt: skip
        started = time.perf_counter()
        try:
            reply = await _answer(runtime, message)
        except RedisError:
            REDIS_ERRORS.labels("web").inc()
            return error(503, "storage unavailable, try again shortly")
        if reply is None:
            return error(504, f"no answer within {CHAT_TIMEOUT_SECONDS:.0f}s, try again shortly")
        count_message("web", reply.action, reply.intent, time.perf_counter() - started)
        out = asdict(reply)
        return JSONResponse({"reply": out.pop("text"), **out})

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        """200 when every check says "ok", else 503; the body names what failed and why."""
        loaded = all(e.ready for e in runtime.engines) or not runtime.holds_models  # the workers', in an HTTP process
        checks = {"model": "ok" if loaded else "not loaded", "redis": await _redis_check(runtime)}
        ready = all(state == "ok" for state in checks.values())
        where = "this process" if runtime.holds_models else "worker processes"
        return JSONResponse({"ready": ready, **checks, "models_in": where}, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        state = await state_metrics(runtime)  # first: a Redis error it meets is counted in this scrape
        return Response(generate_latest(metrics_registry()) + state, media_type=CONTENT_TYPE_LATEST)

    routes = [  # for the webhook requests the Dispatcher leaves to Starlette (405s, redirects)
        Route("/webhooks/{platform}", webhook, methods=["GET", "POST"]),
        Route("/webhooks/{platform}/{name}", webhook, methods=["GET", "POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *runtime.routes,
    ]
    return Dispatcher(webhook, Starlette(routes=routes, lifespan=lifespan))
