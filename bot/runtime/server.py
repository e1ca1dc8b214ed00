"""Running kefu: the HTTP server (uvicorn) and the background work.

Background work: inbox and task consumers, the outbox sender, the delayed-retry mover, the
runtime's jobs (notifier, scheduler). ``kefu worker`` runs it without HTTP, for scale-out.
``kefu serve`` runs it in worker processes beside its HTTP processes (bot/processes.py), or in
its own event loop when it is a single process. Every process that answers keeps its model and
reloadable settings fresh. HTTP processes beside worker processes load no model at all: they
acknowledge, and pass ``/api/chat`` on to a worker (bot/web_chat.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import signal
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from bot.http_limits import http_config
from bot.logs import configure_logging
from bot.processes import (
    ChildProcesses,
    Layout,
    children_for,
    listening_socket,
    process_identity,
    report_ready,
    until_orphaned,
)
from bot.queue import LeasedConsumer, cancel_requested
from bot.runtime import Runtime, prepare_models
from bot.runtime.app import create_app
from bot.runtime.settings import Settings, load_settings
from bot.settings.reload import watch_settings
from bot.worker import InboxHandler, TaskHandler

log = logging.getLogger(__name__)


async def _move_delayed(runtime: Runtime) -> None:
    while not cancel_requested():
        try:
            await runtime.outbox.move_due(runtime.clock())
        except Exception as e:  # Redis away: the entries wait in the set
            log.warning("delayed outbox entries not moved: %s", e)
        await asyncio.sleep(0.2)


def background_jobs(runtime: Runtime, *, work: bool, identity: str | None = None) -> list[Coroutine[Any, Any, None]]:
    """The coroutines a process runs until cancelled: the reloads, and with ``work`` the
    queue consumers (named ``identity``, by default one of their own) and the runtime's jobs."""
    reloads = [engine.watch() for engine in runtime.engines] if runtime.holds_models else []
    reloads += [watch() for watch in runtime.watchers]
    if runtime.config_path is not None and runtime.settings_listeners:
        reloads.append(watch_settings(runtime.config_path, load_settings, runtime.settings_listeners))
    if not work:
        return reloads
    if not runtime.holds_models:
        raise ValueError("a process without models cannot answer messages")
    identity = identity or process_identity()
    outbox_sender = runtime.outbox_sender()
    inbox_handler = InboxHandler(
        runtime.pipeline,
        outbox_sender.send_now,
        runtime.clock,
        runtime.settings.server.max_answer_age_seconds,
        answer_web=runtime.web_replies.publish,
        prepare=outbox_sender.prepare,
    )
    return [
        LeasedConsumer(runtime.gateway.inbox, inbox_handler, identity=identity).run(),
        LeasedConsumer(runtime.gateway.tasks, TaskHandler(runtime.adapter, runtime.gateway), identity=identity).run(),
        LeasedConsumer(runtime.outbox.queue, outbox_sender, identity=identity).run(),
        _move_delayed(runtime),
        *reloads,
        *(job() for job in runtime.jobs),
    ]


@contextlib.asynccontextmanager
async def running(
    runtime: Runtime, *, work: bool = True, also: Sequence[Coroutine[Any, Any, None]] = (), identity: str | None = None
) -> AsyncIterator[None]:
    """The background jobs (and ``also``) run while inside; cancelled and awaited on the way out.
    The process that started the embedded Redis also keeps it up meanwhile."""
    jobs = background_jobs(runtime, work=work, identity=identity)
    tasks = [asyncio.create_task(job) for job in [*jobs, *also, runtime.redis_handle.supervise()]]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_server(
    settings: Settings,
    host: str,
    port: int,
    *,
    with_http: bool,
    config_path: Path | None = None,
    parent_pid: int | None = None,
    consumer_name: str | None = None,
    ready_fd: int | None = None,
    log_format: str = "text",
) -> None:
    """``kefu serve`` (``with_http``) or ``kefu worker``. With ``parent_pid`` this is a child of
    that ``kefu serve`` (bot/processes.py): it starts no children, stops when the parent is gone
    and reports on ``ready_fd`` once it is up; a worker child also gets the name its queue
    consumers go by (``children_for``)."""
    configure_logging(settings.log_level, log_format)
    # HTTP processes beside worker processes only acknowledge: the workers hold the models. The
    # first one still trains what is missing before it starts the others.
    models = not with_http or Layout(settings.server.http_processes, settings.server.worker_processes).single_process
    if not models and parent_pid is None:
        _prepare_models_apart(settings)
    runtime = Runtime.start(settings, config_path=config_path, models=models)
    # What startup built (SDKs, the knowledge base, models: about 270k objects) lives as long as
    # the process; out of the collector's sight, a full collection takes microseconds instead
    # of about 90 ms, a pause every message in flight used to wait out.
    gc.freeze()
    report_ready(ready_fd)
    try:
        if with_http:
            _serve_http(runtime, host, port, config_path, parent_pid, log_format)
        else:
            with contextlib.suppress(KeyboardInterrupt):
                # uvloop, as under uvicorn: the workers are all network round trips.
                uvloop.run(_work(runtime, parent_pid, consumer_name))
    finally:
        # The async clients died with their loop; what is left to stop is the embedded server.
        runtime.redis_handle.stop()


def _prepare_models_apart(settings: Settings) -> None:
    """``prepare_models`` in a child process (forked: nothing is loaded yet but the code): loading
    the models, or training them with scikit-learn, leaves memory behind that a process which
    holds no model should not carry for the rest of its life."""
    child = multiprocessing.get_context("fork").Process(target=_prepare_models_or_exit, args=(settings,))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"the models could not be prepared (exit code {child.exitcode}; the error is above)")


def _prepare_models_or_exit(settings: Settings) -> None:
    try:
        prepare_models(settings)
    except Exception:
        log.exception("preparing the models failed")
        raise SystemExit(1) from None


def _serve_http(
    runtime: Runtime, host: str, port: int, config_path: Path | None, parent_pid: int | None, log_format: str
) -> None:
    layout = Layout(runtime.settings.server.http_processes, runtime.settings.server.worker_processes)
    children = [] if parent_pid else children_for(layout, host, port, config_path, log_format)
    server: uvicorn.Server

    @contextlib.asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        # Children start once this process has trained the model and started Redis.
        also = [ChildProcesses(children, runtime.redis_handle.url).run()] if children else []
        if parent_pid:
            also.append(_exit_when_orphaned(server, parent_pid))
        async with running(runtime, work=layout.single_process and not parent_pid, also=also):
            yield
        # Here, not after server.run: on Ctrl-C uvicorn ends by re-raising the signal, which
        # kills the process before any code after server.run could stop the embedded Redis.
        await asyncio.to_thread(runtime.redis_handle.stop)

    # log_config=None: uvicorn's lines go through the root logger, in the format chosen.
    server = _Server(http_config(create_app(runtime, lifespan), log_config=None))
    server.run(sockets=[listening_socket(host, port)])


class _Server(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM it has shut down for ends the process with exit
    code 0 rather than being raised again (which exits 143): a requested stop that went well is
    a success to systemd, docker and Kubernetes alike. Ctrl-C still ends as an interrupt."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            # Read by uvicorn's capture_signals after this block, to raise each signal again.
            self._captured_signals = [sig for sig in self._captured_signals if sig != signal.SIGTERM]


async def _exit_when_orphaned(server: uvicorn.Server, parent_pid: int) -> None:
    await until_orphaned(parent_pid)
    server.should_exit = True


async def _work(runtime: Runtime, parent_pid: int | None, identity: str | None) -> None:
    stop = asyncio.Event()
    # SIGTERM (from kefu serve, systemd, docker stop): finish the message in hand, hand over.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running(runtime, identity=identity):
        waits: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
        if parent_pid is not None:
            waits.append(asyncio.create_task(until_orphaned(parent_pid)))
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
    await runtime.http.aclose()
