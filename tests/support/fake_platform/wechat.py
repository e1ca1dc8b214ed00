"""Fake WeChat official account API endpoints: the access token and customer-service messages.

``fake.state["wechat_sent"]`` collects every accepted ``message/custom/send`` body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.support.fake_platform.wecom import OK, authorised, issue_token

if TYPE_CHECKING:
    from tests.support.fake_platform.server import FakePlatform


async def token(fake: FakePlatform, request: Request, body: bytes) -> Response:
    q = request.query_params
    if q.get("grant_type") != "client_credential":
        return JSONResponse({"errcode": 40002, "errmsg": "invalid grant_type"})
    return issue_token(fake, "wechat", q.get("appid", ""), q.get("secret", ""))


@authorised("wechat")
async def custom_send(fake: FakePlatform, data: dict[str, Any]) -> Response:
    if not data.get("touser") or data.get("msgtype") != "text":
        return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
    fake.state.setdefault("wechat_sent", []).append(data)
    return JSONResponse(OK)


def register(fake: FakePlatform) -> None:
    """Add this platform's routes to the fake server."""
    fake.route("/cgi-bin/token", token)
    fake.route("/cgi-bin/message/custom/send", custom_send)
