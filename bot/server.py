"""Running kefu: the HTTP server (uvicorn) and the background work in one asyncio loop.

Background work: inbox and task consumers, the outbox sender, the delayed-retry mover, and the
model reloader. ``kefu worker`` runs the same without HTTP, for scale-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn

from bot.app import create_app
from bot.queue import LeasedConsumer, cancel_requested, process_identity
from bot.runtime import Runtime
from bot.settings import Settings
from bot.worker import InboxHandler, TaskHandler

log = logging.getLogger(__name__)


async def _move_delayed(runtime: Runtime) -> None:
    while not cancel_requested():
        try:
            await runtime.outbox.move_due(runtime.clock())
        except Exception as e:  # Redis away: the entries wait in the set
            log.warning("delayed outbox entries not moved: %s", e)
        await asyncio.sleep(0.2)


def background_jobs(runtime: Runtime) -> list:  # type: ignore[type-arg]
    """The coroutines that make up a worker; each runs until cancelled."""
    identity = process_identity()
    inbox_handler = InboxHandler(
        runtime.pipeline, runtime.outbox, runtime.clock, runtime.settings.server.max_answer_age_seconds
    )
    return [
        LeasedConsumer(runtime.gateway.inbox, inbox_handler, identity=identity).run(),
        LeasedConsumer(runtime.gateway.tasks, TaskHandler(runtime.adapter, runtime.gateway), identity=identity).run(),
        LeasedConsumer(runtime.outbox.queue, runtime.outbox_sender(), identity=identity).run(),
        _move_delayed(runtime),
        runtime.engine.watch(),
        *(job() for job in runtime.jobs),
    ]


@contextlib.asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(job) for job in background_jobs(runtime)]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_server(
    settings: Settings, host: str, port: int, *, with_http: bool, config_path: Path | None = None
) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = Runtime.start(settings, config_path=config_path)
    try:
        if with_http:
            @contextlib.asynccontextmanager
            async def lifespan(_app: object) -> AsyncIterator[None]:
                async with running(runtime):
                    yield

            uvicorn.run(create_app(runtime, lifespan), host=host, port=port, log_level="warning", access_log=False)
        else:
            async def work() -> None:
                async with running(runtime):
                    await asyncio.Event().wait()

            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(work())
    finally:
        # The async clients died with their loop; what is left to stop is the embedded server.
        runtime.redis_handle.stop()
