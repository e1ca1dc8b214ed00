"""The web channel and health routes, end to end: the real app on the real runtime (Redis, model)."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from bot import replies
from bot.runtime import Runtime
from bot.runtime.app import create_app
from bot.runtime.settings import Settings
from bot.settings import ServerSettings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(settings: Settings):  # type: ignore[no-untyped-def]
    small = settings.model_copy(update={"server": ServerSettings(max_body_bytes=64 * 1024)})
    runtime = Runtime.start(small)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://kefu.test") as c:
        yield c
    await runtime.close()


async def test_chat_answers_a_parcel_question(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/chat", json={"user": "c1", "text": "我的快递到哪了"})
    assert r.status_code == 200
    body = r.json()
    assert {"reply", "intent", "confidence", "risk", "handoff"} <= set(body)
    assert body["intent"] == "where_is_parcel"
    assert isinstance(body["reply"], str) and body["reply"]
    assert 0.0 < body["confidence"] <= 1.0
    assert body["risk"] >= 0.0 and body["handoff"] is False


async def test_chat_keeps_conversation_per_user(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/chat", json={"user": "c2", "text": "😀"})
    assert r.status_code == 200 and r.json()["reply"]
    r = await client.post("/api/chat", json={"user": 42, "text": "你好"})  # a numeric id is fine
    assert r.status_code == 200 and r.json()["intent"] == "greeting"


@pytest.mark.parametrize("text", ["一加一等于几", "今天天气怎么样", "给我讲个笑话"])
async def test_chat_says_it_only_helps_with_the_shop(client: httpx.AsyncClient, text: str) -> None:
    body = (await client.post("/api/chat", json={"user": "chatty", "text": text})).json()
    assert body["action"] == "out_of_scope" and body["intent"] is None, body
    assert body["reply"] == replies.OUT_OF_SCOPE and body["handoff"] is False


async def test_chatting_is_not_a_failure_to_answer(client: httpx.AsyncClient) -> None:
    """Out-of-scope turns do not add up to the hand-over after unanswered turns, and the shop's
    questions are answered as before."""
    for text in ["一加一等于几", "今天天气怎么样", "给我讲个笑话", "中国的首都是哪里"]:
        body = (await client.post("/api/chat", json={"user": "c9", "text": text})).json()
        assert body["action"] == "out_of_scope" and body["handoff"] is False, body
    body = (await client.post("/api/chat", json={"user": "c9", "text": "我的快递到哪了"})).json()
    assert body["action"] == "answer" and body["intent"] == "where_is_parcel", body


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", "\u4f60\u597d".encode("gbk"), b"[1, 2]", b'"text"'],
)
async def test_malformed_body_is_400(client: httpx.AsyncClient, content: bytes) -> None:
    r = await client.post("/api/chat", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "error" in r.json()


@pytest.mark.parametrize(
    "payload",
    [
        {"user": "c1"},
        {"text": "你好"},
        {"user": "", "text": "你好"},
        {"user": "c1", "text": 5},
        {"user": "c1", "text": None},
    ],
)
async def test_missing_or_wrong_fields_are_400(client: httpx.AsyncClient, payload: dict) -> None:  # type: ignore[type-arg]
    r = await client.post("/api/chat", json=payload)
    assert r.status_code == 400
    assert "user" in r.json()["error"]


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    body = json.dumps({"user": "c1", "text": "好" * 30_000}).encode()  # ~90 KB > 64 KB
    r = await client.post("/api/chat", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b" " * 1024  # no content-length: the limit holds while streaming

    r = await client.post("/api/chat", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_huge_text_under_the_body_limit_is_capped_not_refused(client: httpx.AsyncClient) -> None:
    text = "我的快递到哪了" + "啊" * 15_000  # ~45 KB, under the 64 KB limit, far over MAX_TEXT_CHARS
    r = await client.post("/api/chat", json={"user": "big", "text": text})
    assert r.status_code == 200
    assert r.json()["reply"]


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.text == "ok"
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"ready": True, "model": "ok", "redis": "ok", "models_in": "this process"}
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert "text/plain" in r.headers["content-type"]
    assert "# TYPE" in r.text


async def test_unknown_webhook_platform_or_app_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/webhooks/nosuch", "/webhooks/wecom", "/webhooks/wecom/otherapp", "/webhooks/feishu/x"):
        r = await client.post(path, content=b"<xml/>")
        assert r.status_code == 404, path
        assert "error" in r.json()
    r = await client.get("/webhooks/wechat")
    assert r.status_code == 404


async def test_wrong_method_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/chat")
    assert r.status_code == 405
    r = await client.put("/webhooks/wecom", content=b"<xml/>")  # left to Starlette's routes
    assert r.status_code == 405


async def test_webhook_paths_outside_the_two_shapes_are_not_webhooks(client: httpx.AsyncClient) -> None:
    for path in ("/webhooks/", "/webhooks//x", "/webhooks/wecom/default/extra"):
        r = await client.post(path, content=b"<xml/>")
        assert r.status_code == 404, path
        assert r.text == "Not Found", path  # Starlette's own 404, not a webhook refusal


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_http_server_on_loopback(settings: Settings) -> None:
    runtime = Runtime.start(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        base = f"http://127.0.0.1:{port}"
        r = httpx.post(f"{base}/api/chat", json={"user": "loop", "text": "我的快递到哪了"}, timeout=10)
        assert r.status_code == 200 and r.json()["intent"] == "where_is_parcel"
        assert httpx.get(f"{base}/readyz", timeout=10).json() == {
            "ready": True,
            "model": "ok",
            "redis": "ok",
            "models_in": "this process",
        }
        r = httpx.post(f"{base}/api/chat", content=b"nope", timeout=10)
        assert r.status_code == 400
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.redis_handle.stop()
