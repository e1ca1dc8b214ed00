"""Fake DingTalk endpoints: app access token, v1.0 robot API, sessionWebhook and custom robot.

State under ``fake.state["dingtalk"]``: ``apps`` {appKey: appSecret} the token endpoint accepts,
``tokens`` issued, ``sessions`` {session: True} live sessionWebhooks (any other session answers
errcode 300001 like an expired one), ``robots`` {access_token: secret} custom robots, and
``sent``: every delivered message as (path, body).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.support.fake_platform.server import FakePlatform


def _state(fake: FakePlatform) -> dict[str, Any]:
    return fake.state["dingtalk"]


async def _access_token(fake: FakePlatform, request: Request, body: bytes) -> Response:
    data = json.loads(body or b"{}")
    if _state(fake)["apps"].get(data.get("appKey")) != data.get("appSecret"):
        return JSONResponse({"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}, 400)
    token = secrets.token_hex(16)
    _state(fake)["tokens"].add(token)
    return JSONResponse({"accessToken": token, "expireIn": 7200})


def _robot_api(required: tuple[str, ...]):
    async def handler(fake: FakePlatform, request: Request, body: bytes) -> Response:
        if request.headers.get("x-acs-dingtalk-access-token") not in _state(fake)["tokens"]:
            return JSONResponse({"code": "InvalidAuthentication", "message": "不合法的access_token"}, 401)
        data = json.loads(body or b"{}")
        missing = [k for k in ("robotCode", "msgKey", "msgParam", *required) if not data.get(k)]
        if missing or not isinstance(json.loads(data.get("msgParam") or "null"), dict):
            return JSONResponse({"code": "invalidParameter", "message": f"缺少参数 {missing}"}, 400)
        _state(fake)["sent"].append((request.url.path, data))
        reply: dict[str, Any] = {"processQueryKey": secrets.token_hex(8)}
        if "userIds" in required:
            reply |= {"invalidStaffIdList": [], "flowControlledStaffIdList": []}
        return JSONResponse(reply)

    return handler


async def _send_by_session(fake: FakePlatform, request: Request, body: bytes) -> Response:
    if request.query_params.get("session") not in _state(fake)["sessions"]:
        return JSONResponse({"errcode": 300001, "errmsg": "session 不存在"})
    _state(fake)["sent"].append((request.url.path, json.loads(body)))
    return JSONResponse({"errcode": 0, "errmsg": "ok"})


async def _custom_robot(fake: FakePlatform, request: Request, body: bytes) -> Response:
    q = request.query_params
    secret = _state(fake)["robots"].get(q.get("access_token"))
    if secret is None:
        return JSONResponse({"errcode": 300001, "errmsg": "token is not exist"})
    timestamp = q.get("timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp) / 1000) > 3600:
        return JSONResponse({"errcode": 310000, "errmsg": "sign not match, more: timestamp invalid"})
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(digest).decode(), q.get("sign", "")):
        return JSONResponse({"errcode": 310000, "errmsg": "sign not match"})
    _state(fake)["sent"].append((request.url.path, json.loads(body)))
    return JSONResponse({"errcode": 0, "errmsg": "ok"})


def register(fake: FakePlatform) -> None:
    """Add this platform's routes to the fake server."""
    fake.state["dingtalk"] = {"apps": {}, "tokens": set(), "sessions": {}, "robots": {}, "sent": []}
    fake.route("/v1.0/oauth2/accessToken", _access_token)
    fake.route("/v1.0/robot/oToMessages/batchSend", _robot_api(("userIds",)))
    fake.route("/v1.0/robot/groupMessages/send", _robot_api(("openConversationId",)))
    fake.route("/robot/sendBySession", _send_by_session)
    fake.route("/robot/send", _custom_robot)
