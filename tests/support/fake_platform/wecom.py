"""Fake WeCom API endpoints: access tokens, app messages and cards, and 微信客服 (kf).

State in ``fake.state`` (tests read and seed it):
- ``wecom_tokens``: access tokens issued (any other token gets errcode 40014);
- ``kf_messages``: {open_kfid: [msg, ...]}, served by ``kf/sync_msg`` from a numeric cursor;
  ``kf_page_size`` caps a page below the caller's ``limit`` so tests can see ``has_more``;
- ``kf_sent``: every accepted ``kf/send_msg`` body; ``kf_session_state``: {(open_kfid, user): n}
  (0 or 1 lets the bot send, anything else gives 95018);
- ``app_sent``: every accepted ``message/send`` body.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.support.fake_platform.server import FakePlatform

OK = {"errcode": 0, "errmsg": "ok"}
_serial = itertools.count(1)
_MSGID = re.compile(r"^[0-9a-zA-Z_-]{1,32}$")


# -- token habits shared with the fake WeChat official account ----------------------------------
def issue_token(fake: FakePlatform, realm: str, *credentials: str) -> Response:
    if not all(credentials):
        return JSONResponse({"errcode": 41002, "errmsg": "missing credentials"})
    token = f"{realm}-token-{next(_serial)}"
    fake.state.setdefault(f"{realm}_tokens", set()).add(token)
    return JSONResponse({**OK, "access_token": token, "expires_in": 7200})


def token_error(fake: FakePlatform, realm: str, request: Request) -> Response | None:
    """An errcode answer unless the call carries a token this fake issued."""
    if request.query_params.get("access_token") in fake.state.get(f"{realm}_tokens", set()):
        return None
    return JSONResponse({"errcode": 40014, "errmsg": "invalid access_token"})


def authorised(realm: str):
    def wrap(handler):
        async def checked(fake: FakePlatform, request: Request, body: bytes) -> Response:
            return token_error(fake, realm, request) or await handler(fake, json.loads(body or b"{}"))

        return checked

    return wrap


# -- WeCom ----------------------------------------------------------------------------------------
async def gettoken(fake: FakePlatform, request: Request, body: bytes) -> Response:
    q = request.query_params
    return issue_token(fake, "wecom", q.get("corpid", ""), q.get("corpsecret", ""))


@authorised("wecom")
async def message_send(fake: FakePlatform, data: dict[str, Any]) -> Response:
    if not data.get("msgtype") or "agentid" not in data:
        return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
    fake.state.setdefault("app_sent", []).append(data)
    extra = {"response_code": f"rc{next(_serial)}"} if data["msgtype"] == "template_card" else {}
    return JSONResponse({**OK, "invaliduser": "", "msgid": f"m{next(_serial)}", **extra})


@authorised("wecom")
async def update_template_card(fake: FakePlatform, data: dict[str, Any]) -> Response:
    fake.state.setdefault("card_updates", []).append(data)
    return JSONResponse({**OK, "invaliduser": []})


@authorised("wecom")
async def kf_sync_msg(fake: FakePlatform, data: dict[str, Any]) -> Response:
    queue = fake.state.setdefault("kf_messages", {}).get(data.get("open_kfid"), [])
    start = int(data.get("cursor") or 0)
    size = min(int(data.get("limit") or 1000), 1000, fake.state.get("kf_page_size", 1000))
    page = queue[start : start + size]
    end = start + len(page)
    return JSONResponse({**OK, "next_cursor": str(end), "has_more": int(end < len(queue)), "msg_list": page})


@authorised("wecom")
async def kf_send_msg(fake: FakePlatform, data: dict[str, Any]) -> Response:
    msgid = data.get("msgid", "")
    if msgid and not _MSGID.match(msgid):
        return JSONResponse({"errcode": 40035, "errmsg": "invalid msgid"})
    state = fake.state.setdefault("kf_session_state", {}).get((data["open_kfid"], data["touser"]), 1)
    if state not in (0, 1):
        return JSONResponse({"errcode": 95018, "errmsg": "send msg session status invalid"})
    sent = fake.state.setdefault("kf_sent", [])
    if msgid and any(m.get("msgid") == msgid for m in sent):
        # The real code for a reused msgid is not documented; this fake's guess.
        return JSONResponse({"errcode": 40035, "errmsg": "msgid already exists"})
    sent.append(data)
    return JSONResponse({**OK, "msgid": msgid or f"kf{next(_serial)}"})


@authorised("wecom")
async def kf_service_state_trans(fake: FakePlatform, data: dict[str, Any]) -> Response:
    key = (data["open_kfid"], data["external_userid"])
    fake.state.setdefault("kf_session_state", {})[key] = int(data["service_state"])
    return JSONResponse({**OK, "msg_code": ""})


def register(fake: FakePlatform) -> None:
    """Add this platform's routes to the fake server."""
    fake.route("/cgi-bin/gettoken", gettoken)
    fake.route("/cgi-bin/message/send", message_send)
    fake.route("/cgi-bin/message/update_template_card", update_template_card)
    fake.route("/cgi-bin/kf/sync_msg", kf_sync_msg)
    fake.route("/cgi-bin/kf/send_msg", kf_send_msg)
    fake.route("/cgi-bin/kf/service_state/trans", kf_service_state_trans)
