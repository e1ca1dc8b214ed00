"""Fake Feishu open API: tenant token, bot info, send message, reply to a message.

State under ``fake.state["feishu"]``: ``apps`` {app_id: app_secret} the token endpoint accepts,
``bot_open_id`` the bot info endpoint answers with,
``tokens`` issued, ``uuids`` {uuid: message_id} (a repeated uuid returns the first message id and
sends nothing), and ``sent``: every delivered message body (a reply has ``reply_to``).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.support.fake_platform.server import FakePlatform

MESSAGES = "/open-apis/im/v1/messages"
_RECEIVE_ID_TYPES = {"open_id", "user_id", "union_id", "email", "chat_id"}


def _state(fake: FakePlatform) -> dict[str, Any]:
    return fake.state["feishu"]


def _error(code: int, msg: str, status: int = 400) -> Response:
    return JSONResponse({"code": code, "msg": msg}, status)


async def _tenant_token(fake: FakePlatform, request: Request, body: bytes) -> Response:
    data = json.loads(body or b"{}")
    if _state(fake)["apps"].get(data.get("app_id")) != data.get("app_secret"):
        return _error(10014, "app secret invalid")
    token = f"t-{secrets.token_hex(12)}"
    _state(fake)["tokens"].add(token)
    return JSONResponse({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})


async def _deliver(fake: FakePlatform, request: Request, data: dict[str, Any]) -> Response:
    """Checks shared by send and reply: token, body, uuid idempotency."""
    if request.headers.get("authorization", "").removeprefix("Bearer ") not in _state(fake)["tokens"]:
        return _error(99991663, "Invalid access token for authorization. Please make a request with token attached.")
    try:
        content = json.loads(data["content"])
    except (KeyError, TypeError, ValueError):
        return _error(230001, "Your request contains an invalid request parameter, ext=invalid content")
    if data.get("msg_type") == "text" and "text" not in content:
        return _error(230001, "Your request contains an invalid request parameter, ext=text is required")
    if len(data.get("uuid") or "") > 50:
        return _error(99992402, "field validation failed: uuid is longer than 50")
    uuids = _state(fake)["uuids"]
    if data.get("uuid") not in uuids:
        uuids[data.get("uuid")] = f"om_{secrets.token_hex(16)}"
        _state(fake)["sent"].append(data)
    message_id = uuids[data.get("uuid")]
    return JSONResponse(
        {
            "code": 0,
            "msg": "success",
            "data": {
                "message_id": message_id,
                "msg_type": data.get("msg_type"),
                "create_time": str(int(time.time() * 1000)),
                "chat_id": data.get("receive_id", "oc_fake"),
                "body": {"content": data["content"]},
            },
        }
    )


async def _send(fake: FakePlatform, request: Request, body: bytes) -> Response:
    data = json.loads(body or b"{}")
    if request.query_params.get("receive_id_type") not in _RECEIVE_ID_TYPES or not data.get("receive_id"):
        return _error(99992402, "field validation failed: receive_id_type / receive_id")
    return await _deliver(fake, request, data)


async def _reply(fake: FakePlatform, request: Request, body: bytes) -> Response:
    message_id = request.url.path.removeprefix(MESSAGES + "/").removesuffix("/reply")
    if not message_id.startswith("om_") or not request.url.path.endswith("/reply"):
        return _error(230002, "The message is not found or has been recalled.")
    return await _deliver(fake, request, {**json.loads(body or b"{}"), "reply_to": message_id})


async def _bot_info(fake: FakePlatform, request: Request, body: bytes) -> Response:
    if request.headers.get("authorization", "").removeprefix("Bearer ") not in _state(fake)["tokens"]:
        return _error(99991663, "Invalid access token for authorization.")
    return JSONResponse({"code": 0, "msg": "ok", "bot": {
        "activate_status": 2, "app_name": "客服助手", "open_id": _state(fake)["bot_open_id"],
    }})  # fmt: skip


def register(fake: FakePlatform) -> None:
    """Add this platform's routes to the fake server."""
    fake.state["feishu"] = {"apps": {}, "tokens": set(), "uuids": {}, "sent": [], "bot_open_id": "ou_bot"}
    fake.route("/open-apis/auth/v3/tenant_access_token/internal", _tenant_token)
    fake.route("/open-apis/bot/v3/info", _bot_info)
    fake.route(MESSAGES, _send)
    fake.route_prefix(MESSAGES + "/", _reply)
