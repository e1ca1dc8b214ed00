"""The server core: request recording, scripted failures, and running uvicorn on a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

Handler = Callable[["FakePlatform", Request, bytes], Awaitable[Response]]
WebSocketHandler = Callable[["FakePlatform", WebSocket], Awaitable[None]]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class FakePlatform:
    """Start with ``with FakePlatform() as fake:``; ``fake.base`` is its origin (http://127.0.0.1:P)."""

    def __init__(self, port: int | None = None) -> None:
        self.requests: list[Recorded] = []
        self._failures: dict[str, deque[Response]] = defaultdict(deque)
        self._routes: dict[str, Handler] = {}
        self._prefix_routes: list[tuple[str, Handler]] = []  # for ids in the path (Feishu reply)
        self._after: dict[str, Callable[[], None]] = {}
        self._websockets: dict[str, WebSocketHandler] = {}
        self._lock = threading.Lock()
        self.state: dict[str, Any] = {}  # per-platform fake state (kf message queues, ...)
        from tests.support.fake_platform import dingtalk, dingtalk_stream, feishu, feishu_ws, robots, wechat, wecom

        for module in (wecom, wechat, dingtalk, dingtalk_stream, feishu, feishu_ws, robots):
            module.register(self)
        self.port = port or _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- wiring -------------------------------------------------------------------------------
    def route(self, path: str, handler: Handler) -> None:
        self._routes[path] = handler

    def websocket(self, path: str, handler: WebSocketHandler) -> None:
        self._websockets[path] = handler

    def route_prefix(self, prefix: str, handler: Handler) -> None:
        """Serve every path that starts with ``prefix`` (exact routes win)."""
        self._prefix_routes.append((prefix, handler))

    def fail_next(self, path: str, times: int, response: Response | None = None) -> None:
        """The next ``times`` calls to ``path`` get ``response`` (default HTTP 500)."""
        with self._lock:
            for _ in range(times):
                self._failures[path].append(response or Response("boom", status_code=500))

    def after(self, path: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` each time the platform has handled a call to ``path`` (and before its
        answer leaves): to change the world at exactly the moment the platform accepted."""
        self._after[path] = hook

    def fail_next_json(self, path: str, times: int, payload: dict[str, Any]) -> None:
        self.fail_next(path, times, JSONResponse(payload))

    def calls(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.calls(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"expected {count} call(s) to {path}, got {len(self.calls(path))}")

    # -- serving ------------------------------------------------------------------------------
    async def _dispatch(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        with self._lock:
            self.requests.append(
                Recorded(
                    request.method,
                    path,
                    dict(request.query_params),
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    time.time(),
                )
            )
            scripted = self._failures[path].popleft() if self._failures[path] else None
        if scripted is not None:
            return scripted
        handler = self._routes.get(path) or next(
            (h for prefix, h in self._prefix_routes if path.startswith(prefix)), None
        )
        if handler is None:
            return JSONResponse({"errcode": 404, "errmsg": f"fake platform: no route {path}"}, 404)
        response = await handler(self, request, body)
        if path in self._after:
            self._after[path]()
        return response

    def __enter__(self) -> FakePlatform:
        sockets = [WebSocketRoute(path, self._socket(handler)) for path, handler in self._websockets.items()]
        app = Starlette(routes=[*sockets, Route("/{path:path}", self._dispatch, methods=["GET", "POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake platform did not start")
            time.sleep(0.01)
        return self

    def _socket(self, handler: WebSocketHandler) -> Callable[[WebSocket], Awaitable[None]]:
        async def endpoint(websocket: WebSocket) -> None:
            await handler(self, websocket)

        return endpoint

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
