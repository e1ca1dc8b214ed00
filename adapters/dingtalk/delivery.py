"""Deliver one rendered message: the sessionWebhook while it lives, else the robot API.

Every outcome is a ``SendResult``: network trouble, 5xx, 429 and throttling are worth a retry; a
rejected access token is forgotten and retried; anything else the platform refused is permanent,
with its own message. DingTalk has no idempotency key for robot messages, so a retry after a lost
response can repeat a message; the outbox keeps such retries rare.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.dingtalk.render import Rendered
from bot.http import HttpClient, HttpError
from bot.message import SendResult
from bot.token_cache import TokenRejected, json_object

SESSION_GONE = 300001  # "session 不存在": the sessionWebhook expired; the robot API still works
_WEBHOOK_THROTTLED = {130101, 130102}  # robot sends too fast (blocked for a while)
_THROTTLING_CODES = ("throttling", "qpslimit", "flowcontrol", "ratelimit")
_TOKEN_CODES = ("invalidauthentication", "invalidaccesstoken", "unauthorized")


async def post_session_webhook(http: HttpClient, url: str, rendered: Rendered) -> SendResult | None:
    """Send through the sessionWebhook; ``None`` means it has expired and the robot API must serve."""
    try:
        response = await http.post(url, json=rendered.webhook_body)
    except HttpError as e:
        return SendResult.retry(f"dingtalk sessionWebhook: {type(e).__name__}")
    if response.status_code == 429 or response.status_code >= 500:
        return SendResult.retry(f"dingtalk sessionWebhook: HTTP {response.status_code}")
    payload = json_object(response)
    code = payload.get("errcode")
    if code == 0:
        return SendResult.success()
    if code == SESSION_GONE:
        return None
    error = f"dingtalk sessionWebhook errcode {code}: {payload.get('errmsg', response.text[:200])}"
    return SendResult.retry(error) if code in _WEBHOOK_THROTTLED else SendResult.permanent(error)


async def post_robot_api(http: HttpClient, url: str, token: str, body: dict[str, Any]) -> SendResult:
    """One call of the v1.0 robot API; raises ``TokenRejected`` for a refused token."""
    try:
        response = await http.post(url, json=body, headers={"x-acs-dingtalk-access-token": token})
    except HttpError as e:
        return SendResult.retry(f"dingtalk robot API: {type(e).__name__}")
    payload = json_object(response)
    if response.status_code == 200:
        # A user over the per-person flow limit is listed instead of failing the call.
        if payload.get("flowControlledStaffIdList"):
            return SendResult.retry("dingtalk robot API: receiver is flow-controlled")
        if payload.get("invalidStaffIdList"):
            return SendResult.permanent(f"dingtalk robot API: invalid staff id {payload['invalidStaffIdList']}")
        return SendResult.success()
    code = str(payload.get("code", ""))
    error = f"dingtalk robot API HTTP {response.status_code} {code}: {payload.get('message', response.text[:200])}"
    if response.status_code == 401 or any(c in code.lower() for c in _TOKEN_CODES):
        raise TokenRejected(error)
    if response.status_code == 429 or response.status_code >= 500 or _is_throttling(code):
        return SendResult.retry(error)
    return SendResult.permanent(error)


def robot_api_call(rendered: Rendered, robot_code: str, route: dict[str, str]) -> tuple[str, dict[str, Any]] | str:
    """The robot API path and body for a route, or why there is none."""
    common = {
        "robotCode": robot_code,
        "msgKey": rendered.msg_key,
        "msgParam": json.dumps(rendered.msg_param, ensure_ascii=False),
    }
    if route.get("conversation_type") == "2":
        if not route.get("conversation_id"):
            return "group route without conversation_id"
        return "/v1.0/robot/groupMessages/send", {**common, "openConversationId": route["conversation_id"]}
    if not route.get("sender_staff_id"):
        return "single-chat route without sender_staff_id (not a staff member of this org)"
    return "/v1.0/robot/oToMessages/batchSend", {**common, "userIds": [route["sender_staff_id"]]}


def _is_throttling(code: str) -> bool:
    return any(c in code.lower() for c in _THROTTLING_CODES)
