"""No input gets a 500: the probe's reproducers, one by one, and a seeded fuzz of every route.

The app runs in-process on the real runtime (Redis, model) with every channel configured with the
test secrets of tests/fuzz_cases.py, so signed cases reach the parsers behind the signature.
The request-head limit is checked on a real ``kefu serve`` over TCP.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import redis

from bot.parsing import MAX_JSON_DEPTH, Malformed, load_json
from bot.runtime import Runtime
from bot.runtime.app import create_app
from bot.runtime.settings import Channels, Settings
from tests.support.fuzz_cases import (
    CORP,
    ROUTES,
    WX_TOKEN,
    Fuzzer,
    Sealer,
    channel_config,
    dingtalk_headers,
    feishu_headers,
    query_string,
    wx_signature,
)
from tests.support.serving import free_port, start_serve, wait_until

pytestmark = pytest.mark.anyio
CASES_PER_ROUTE = 1000
NINES, ONES = "9" * 400, "1" * 5000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime.start(settings.model_copy(update={"channels": Channels(**channel_config())}))


@pytest.fixture
async def client(runtime: Runtime):  # type: ignore[no-untyped-def]
    # raise_app_exceptions=False: an exception in the app is the 500 a client would see.
    transport = httpx.ASGITransport(app=create_app(runtime), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kefu.test") as c:
        yield c
    await runtime.close()


def now() -> int:
    return int(time.time())


async def inbox_messages(runtime: Runtime) -> list[dict[str, object]]:
    """The messages queued so far, as the workers would read them."""
    r = redis.Redis.from_url(runtime.settings.redis_url)
    messages = []
    for key in r.scan_iter("*"):
        if r.type(key) == b"stream":
            for _, fields in r.xrange(key):
                messages += [json.loads(v) for v in fields.values() if v.startswith(b"{") and b'"text"' in v]
    return messages


async def inbox_texts(runtime: Runtime) -> list[str]:
    return [str(message["text"]) for message in await inbox_messages(runtime)]


# -- timestamps -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stamp", [NINES.encode(), ONES.encode(), b"\xb2"])
async def test_dingtalk_timestamp_that_is_no_number_is_refused(client: httpx.AsyncClient, stamp: bytes) -> None:
    headers = {"timestamp": stamp, "sign": b"c2lnbg==", "content-type": b"application/json"}
    r = await client.post("/webhooks/dingtalk", content=b"{}", headers=headers)
    assert r.status_code == 403


@pytest.mark.parametrize("stamp", [NINES.encode(), ONES.encode(), b"\xb2"])
async def test_unsigned_feishu_timestamp_that_is_no_number_is_refused(client: httpx.AsyncClient, stamp: bytes) -> None:
    body = json.dumps({"type": "url_verification", "token": "x", "challenge": "c"}).encode()
    r = await client.post("/webhooks/feishu", content=body, headers={"x-lark-request-timestamp": stamp})
    assert r.status_code == 403


async def test_signed_timestamp_of_four_hundred_nines_is_refused_on_every_platform(client: httpx.AsyncClient) -> None:
    sealed = Sealer.for_wecom().seal(b"<xml/>")
    query = {"msg_signature": wx_signature(WX_TOKEN, NINES, "n", sealed), "timestamp": NINES, "nonce": "n"}
    body = f"<xml><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>".encode()
    assert (await client.post(f"/webhooks/wecom?{query_string(query)}", content=body)).status_code == 403
    plain = {"signature": wx_signature(WX_TOKEN, NINES, "n"), "timestamp": NINES, "nonce": "n"}
    r = await client.post(f"/webhooks/wechat/plain?{query_string(plain)}", content=b"<xml/>")
    assert r.status_code == 403
    fs_body = b'{"encrypt": "AAAA"}'
    r = await client.post("/webhooks/feishu", content=fs_body, headers=feishu_headers(fs_body, NINES))
    assert r.status_code == 403
    r = await client.post("/webhooks/dingtalk", content=b"{}", headers=dingtalk_headers(NINES))
    assert r.status_code == 403


# -- XML encodings --------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["ebcdic", "UTF-7", "x-foo", "latin-1"])
async def test_xml_declaring_another_encoding_than_utf8_is_400(client: httpx.AsyncClient, encoding: str) -> None:
    body = f'<?xml version="1.0" encoding="{encoding}"?><xml/>'.encode()
    assert (await client.post("/webhooks/wecom?msg_signature=a&timestamp=1&nonce=n", content=body)).status_code == 400
    r = await client.post("/webhooks/wechat?encrypt_type=aes&msg_signature=a&timestamp=1&nonce=n", content=body)
    assert r.status_code == 400
    plain = {"signature": wx_signature(WX_TOKEN, str(now()), "n"), "timestamp": str(now()), "nonce": "n"}
    r = await client.post(f"/webhooks/wechat/plain?{query_string(plain)}", content=body)
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]


async def test_xml_declaring_utf8_is_accepted(client: httpx.AsyncClient, runtime: Runtime) -> None:
    body = ('<?xml version="1.0" encoding="UTF-8"?><xml><FromUserName>o1</FromUserName><MsgType>text</MsgType>'
            f"<Content>你好</Content><CreateTime>{now()}</CreateTime><MsgId>42</MsgId></xml>").encode()  # fmt: skip
    plain = {"signature": wx_signature(WX_TOKEN, str(now()), "n"), "timestamp": str(now()), "nonce": "n"}
    r = await client.post(f"/webhooks/wechat/plain?{query_string(plain)}", content=body)
    assert r.status_code == 200
    assert await inbox_texts(runtime) == ["你好"]


# -- /api/chat --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content", [b"[" * 100_000 + b"]" * 100_000, b"1" * 5000, b'{"user": "u", "text": "x", "n": ' + b"1" * 5000 + b"}"]
)
async def test_chat_refuses_documents_that_break_json_parsers(client: httpx.AsyncClient, content: bytes) -> None:
    r = await client.post("/api/chat", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400


@pytest.mark.parametrize("field", ["text", "user"])
async def test_chat_replaces_a_lone_surrogate(client: httpx.AsyncClient, field: str) -> None:
    data = {"user": "c9", "text": "你好", field: "你好\ud800"}
    content = json.dumps(data).encode()  # "\ud800" as an escape, as a client would send it
    for _ in range(2):  # and again: the same body never starts failing
        r = await client.post("/api/chat", content=content, headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.json()["reply"]


# -- DingTalk with valid headers --------------------------------------------------------------------
def dingtalk_message(text: str, msg_id: str) -> dict[str, object]:
    return {"conversationType": "1", "msgtype": "text", "text": {"content": text}, "senderStaffId": "s1",
            "msgId": msg_id, "conversationId": "cid1", "createAt": now() * 1000}  # fmt: skip


async def test_signed_dingtalk_deeply_nested_json_is_400(client: httpx.AsyncClient) -> None:
    for depth in (MAX_JSON_DEPTH + 1, 900, 100_000):
        content = b'{"a":' * depth + b"1" + b"}" * depth
        r = await client.post("/webhooks/dingtalk", content=content, headers=dingtalk_headers(str(now() * 1000)))
        assert r.status_code == 400, depth
    message = dingtalk_message("你好", "m1")
    message["text"] = {"content": "你好", "x": json.loads("[" * 900 + "]" * 900)}
    r = await client.post("/webhooks/dingtalk", content=json.dumps(message).encode(),
                          headers=dingtalk_headers(str(now() * 1000)))  # fmt: skip
    assert r.status_code == 400


async def test_signed_dingtalk_lone_surrogate_is_replaced_and_its_retry_is_a_duplicate(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    content = json.dumps(dingtalk_message("退款\ud800了吗", "m2")).encode()
    for _ in range(3):  # DingTalk's retries of the same callback
        r = await client.post("/webhooks/dingtalk", content=content, headers=dingtalk_headers(str(now() * 1000)))
        assert r.status_code == 200
    assert await inbox_texts(runtime) == ["退款\ufffd了吗"]


@pytest.mark.parametrize("agent", ["\u202e", "1" * 5000, "12a", "²"])
async def test_signed_wecom_agent_id_that_is_no_number_does_not_reach_the_reply(
    client: httpx.AsyncClient, runtime: Runtime, agent: str
) -> None:
    inner = (f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>u1</FromUserName><CreateTime>{now()}</CreateTime>"
             f"<MsgType>text</MsgType><Content>你好</Content><MsgId>77</MsgId><AgentID>{agent}</AgentID></xml>")  # fmt: skip
    sealed = Sealer.for_wecom().seal(inner.encode())
    ts = str(now())
    query = {"msg_signature": wx_signature(WX_TOKEN, ts, "n", sealed), "timestamp": ts, "nonce": "n"}
    body = f"<xml><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>".encode()
    assert (await client.post(f"/webhooks/wecom?{query_string(query)}", content=body)).status_code == 200
    [message] = await inbox_messages(runtime)
    assert message["reply_route"]["agent_id"] == "1000002"  # type: ignore[index]


def test_load_json_keeps_what_is_valid() -> None:
    assert load_json(b'{"a": "\\ud83d\\ude00", "b": [1, 2.5, null]}') == {"a": "😀", "b": [1, 2.5, None]}
    deep = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert load_json(deep) is not None
    with pytest.raises(Malformed):
        load_json(b"[" + deep + b"]")
    inner = deep[1:-1]  # one level less, inside a list of two
    assert load_json(b'["\\ud800", ' + inner + b"]") == ["\ufffd", json.loads(inner)]
    with pytest.raises(Malformed):  # a lone surrogate opens no way around the depth limit
        load_json(b'["\\ud800", ' + deep + b"]")


# -- the seeded fuzz --------------------------------------------------------------------------------
async def test_fuzz_every_route_never_gets_a_5xx(client: httpx.AsyncClient) -> None:
    fuzzer = Fuzzer(seed=20240611)
    statuses: dict[str, collections.Counter[int]] = {}
    failures = []
    for route in ROUTES:
        counter = statuses.setdefault(route, collections.Counter())
        for case in fuzzer.cases(route, CASES_PER_ROUTE):
            r = await client.request(case.method, case.path, content=case.body, headers=case.headers)
            counter[r.status_code] += 1
            if r.status_code >= 500:
                failures.append((route, case.note, case.method, case.path[:120], case.body[:120], r.text[:200]))
    assert not failures, failures[:5]
    # The signed cases got past the signature: some accepted, some refused as malformed.
    for route in ("chat", "wecom_post", "wechat_post", "wechat_plain_post", "dingtalk", "feishu"):
        assert statuses[route][200] and statuses[route][400], (route, statuses[route])
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200


# -- the request-head limit, on a real server ---------------------------------------------------------
def raw_request(port: int, head: bytes, chunk: int = 1 << 20, total: int = 0) -> bytes:
    """Send ``head`` (then ``total`` more header bytes, as long as the server reads) and return
    what the server answered before closing; b"" when it just closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(head)
            sent = 0
            while sent < total:
                s.sendall(b"a" * chunk)
                sent += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused and closed: what it said first is still readable
        answer = b""
        try:
            while data := s.recv(65536):
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="kefu serve as a child process, Linux only")
def test_a_huge_request_head_is_refused_and_health_still_answers(tmp_path: Path, trained_model_dir: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for f in trained_model_dir.iterdir():
        if f.is_file():
            os.link(f, data_dir / f.name)
    port = free_port()
    log = tmp_path / "serve.log"
    serve = start_serve(
        port, log, KEFU_DATA_DIR=str(data_dir), KEFU_SERVER__HTTP_PROCESSES="1", KEFU_SERVER__WORKER_PROCESSES="0"
    )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout=90)
        # One header of 64 MiB: refused once the limit is passed, without reading the rest.
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
        answer = raw_request(port, head, total=64 << 20)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        # Many small headers, the whole head sent at once: 431 as well.
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
        answer = raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        # A large but complete head in one piece.
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (200 << 10) + b"\r\n\r\n"
        answer = raw_request(port, big)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:100]
        assert healthy()
        # Ordinary requests with a few kilobytes of headers still pass, on one kept-alive connection.
        with httpx.Client(base_url=base, timeout=10) as c:
            for _ in range(3):
                assert c.get("/healthz", headers={"X-Pad": "p" * 8000}).status_code == 200
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        print(log.read_text(errors="replace"))  # shown by pytest when the test failed
