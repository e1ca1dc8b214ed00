"""Fake group robots: WeCom group robot and Feishu custom bot (the DingTalk custom robot,
``/robot/send``, lives in dingtalk.py). They check keys and signatures like the platforms and
answer with the platforms' error codes and texts.

State under ``fake.state["robots"]``: ``wecom`` {key} robots that exist, ``feishu`` {token:
secret} custom bots, and ``sent``: every delivered body as (path, body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.support.fake_platform.server import FakePlatform

WECOM_ROBOT = "/cgi-bin/webhook/send"
FEISHU_HOOK = "/open-apis/bot/v2/hook/"
_WECOM_LIMITS = {"text": 2048, "markdown": 4096}
FEISHU_MAX_BODY = 30 * 1024


def _state(fake: FakePlatform) -> dict[str, Any]:
    return fake.state["robots"]


async def _wecom_robot(fake: FakePlatform, request: Request, body: bytes) -> Response:
    if request.query_params.get("key") not in _state(fake)["wecom"]:
        return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url, hint: [1700000000_1_abc]"})
    try:
        data = json.loads(body)
    except ValueError:
        return JSONResponse({"errcode": 40001, "errmsg": "invalid json"})
    kind = data.get("msgtype")
    if kind not in _WECOM_LIMITS:
        return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
    content = (data.get(kind) or {}).get("content", "")
    if not content:
        return JSONResponse({"errcode": 44004, "errmsg": "empty content"})
    if len(content.encode()) > _WECOM_LIMITS[kind]:
        return JSONResponse({"errcode": 40058, "errmsg": f"{kind}.content exceed max length {_WECOM_LIMITS[kind]}"})
    _state(fake)["sent"].append((request.url.path, data))
    return JSONResponse({"errcode": 0, "errmsg": "ok"})


def feishu_sign(timestamp: str, secret: str) -> str:
    return base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


async def _feishu_bot(fake: FakePlatform, request: Request, body: bytes) -> Response:
    token = request.url.path.removeprefix(FEISHU_HOOK)
    secret = _state(fake)["feishu"].get(token)
    if secret is None:
        return JSONResponse({"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}})
    if len(body) > FEISHU_MAX_BODY:
        return JSONResponse({"code": 9499, "msg": "request body too large"}, 400)
    try:
        data = json.loads(body)
    except ValueError:
        return JSONResponse({"code": 9499, "msg": "Bad Request"}, 400)
    timestamp = str(data.get("timestamp", ""))
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 3600
    if secret and (not fresh or not hmac.compare_digest(feishu_sign(timestamp, secret), str(data.get("sign", "")))):
        return JSONResponse(
            {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time", "data": {}}
        )
    if data.get("msg_type") == "interactive" and not isinstance(data.get("card"), dict):
        return JSONResponse({"code": 19002, "msg": "params error, card is required", "data": {}})
    if data.get("msg_type") == "text" and not (data.get("content") or {}).get("text"):
        return JSONResponse({"code": 19002, "msg": "params error, content.text is required", "data": {}})
    _state(fake)["sent"].append((request.url.path, data))
    return JSONResponse({"code": 0, "msg": "success", "data": {}})


def register(fake: FakePlatform) -> None:
    """Add the robots' routes to the fake server."""
    fake.state["robots"] = {"wecom": set(), "feishu": {}, "sent": []}
    fake.route(WECOM_ROBOT, _wecom_robot)
    fake.route_prefix(FEISHU_HOOK, _feishu_bot)
