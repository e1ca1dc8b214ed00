"""Real HTTP servers on 127.0.0.1 for the lookup tests: the demo shop behind scripted
misbehaviours, and a fake 快递100 that checks signatures like the real one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import Counter, deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.shop.demo import as_of, create_demo_app, days_since_demo_today
from tests.support.serving import free_port, on_a_thread

SECRET = "test-secret"
APP_KEY = "test-key"
MB = 1024 * 1024


def served_date(iso: str) -> datetime:
    """A date of the demo's data as the demo shop serves it today (moved to look current)."""
    return datetime.fromisoformat(as_of({"time": iso}, days_since_demo_today(time.time()))["time"])


def shown_day(iso: str) -> str:
    """That date as the bot's answers write it: ``6月9日``."""
    served = served_date(iso)
    return f"{served.month}月{served.day}日"


@contextlib.contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of ``app`` under uvicorn on a thread; stopped on exit."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
    with on_a_thread(server):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def scripted_demo_shop() -> Iterator[tuple[str, Scripted]]:
    """The demo shop (signed with the tests' key) behind ``Scripted``, served on 127.0.0.1."""
    scripted = Scripted(create_demo_app(APP_KEY, SECRET))
    with serving(scripted) as base:
        yield base, scripted


class Scripted:
    """ASGI middleware: counts requests by path and, when told, misbehaves on the next ones
    instead of passing them on: ``500``, ``404``, ``garbage``, ``wrong_shape``, ``huge_declared`` (a 10 MB
    body announced and sent), ``huge_stream`` (chunked, 10 MB, slowly), ``stall`` (no answer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()
        self.script: deque[str] = deque()

    def next(self, behaviour: str, times: int = 1) -> None:
        self.script.extend([behaviour] * times)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.calls[scope["path"]] += 1
        behaviour = self.script.popleft() if self.script else None
        if behaviour is None:
            return await self.app(scope, receive, send)
        await _MISBEHAVIOURS[behaviour](send)


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _body(send: Send, body: bytes, more: bool = False) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def _fail_500(send: Send) -> None:
    await _start(send, 500, [(b"content-type", b"text/plain")])
    await _body(send, b"boom")


async def _not_found(send: Send) -> None:
    await _start(send, 404, [(b"content-type", b"application/json")])
    await _body(send, b'{"error": "no such customer"}')


async def _garbage(send: Send) -> None:
    await _start(send, 200, [(b"content-type", b"application/json")])
    await _body(send, b'{"order_id": "DD1", "status": ')


async def _wrong_shape(send: Send) -> None:
    await _start(send, 200, [(b"content-type", b"application/json")])
    await _body(send, json.dumps({"order_id": "DD1", "status": "lost_in_space", "amount": "x"}).encode())


async def _huge_declared(send: Send) -> None:
    await _start(send, 200, [(b"content-type", b"application/json"), (b"content-length", str(10 * MB).encode())])
    for _ in range(10):
        await _body(send, b" " * MB, more=True)
    await _body(send, b"")


async def _huge_stream(send: Send) -> None:
    """10 MB without a length, after the first 2 MB only slowly: reading it whole would take long."""
    await _start(send, 200, [(b"content-type", b"application/json")])
    await _body(send, b"[" + b" " * (2 * MB), more=True)
    for _ in range(8):
        await asyncio.sleep(1)
        await _body(send, b" " * MB, more=True)
    await _body(send, b"]")


async def _stall(send: Send) -> None:
    await asyncio.sleep(3)
    await _fail_500(send)


_MISBEHAVIOURS = {
    "500": _fail_500,
    "404": _not_found,
    "garbage": _garbage,
    "wrong_shape": _wrong_shape,
    "huge_declared": _huge_declared,
    "huge_stream": _huge_stream,
    "stall": _stall,
}


# -- 快递100 ---------------------------------------------------------------------------------------
KD_CUSTOMER = "TESTCUSTOMER"
KD_KEY = "test-kuaidi100-key"

SF_ANSWER = {
    "message": "ok", "nu": "SF1234567890123", "ischeck": "0", "com": "shunfeng", "status": "200", "state": "5",
    "data": [
        {"time": "2024-06-10 09:30:00", "ftime": "2024-06-10 09:30:00", "context": "【上海市】快件派送中"},
        {"time": "2024-06-09 22:40:00", "ftime": "2024-06-09 22:40:00", "context": "【广州市】快件已发出"},
    ],
}  # fmt: skip


class FakeKuaidi100:
    """``POST /poll/query.do`` as 快递100 answers it: 503 for a bad sign, 601 when ``out_of_credit``,
    500 for a waybill it has no trace of, and for an SF waybill asked without the last four
    digits of its receiver's phone (in ``phones``), else the answer in ``answers`` (by waybill)."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {"SF1234567890123": SF_ANSWER}
        self.phones: dict[str, str] = {"SF1234567890123": "1234"}
        self.out_of_credit = False
        self.params: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/poll/query.do", self._query, methods=["POST"])])

    async def _query(self, request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode())
        customer, param, sign = (form.get(k, [""])[0] for k in ("customer", "param", "sign"))
        expected = hashlib.md5((param + KD_KEY + customer).encode()).hexdigest().upper()
        if customer != KD_CUSTOMER or sign != expected:
            return JSONResponse({"result": False, "returnCode": "503", "message": "验证签名失败"})
        query = json.loads(param)
        self.params.append(query)
        if self.out_of_credit:
            return JSONResponse({"result": False, "returnCode": "601", "message": "POLL:KEY已过期或账户余额不足"})
        answer = self.answers.get(query["num"])
        if query["com"] in ("shunfeng", "shunfengkuaiyun") and query.get("phone", "")[-4:] != self.phones.get(
            query["num"]
        ):
            answer = None  # SF's traces are given only to whoever knows the phone
        if answer is None:
            return JSONResponse({"result": False, "returnCode": "500", "message": "查询无结果，请隔段时间再查"})
        return JSONResponse(answer)
