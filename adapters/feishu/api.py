"""Feishu's open API for sending: the tenant access token and one message per call.

Plain calls on the shared async client (bot.http) rather than ``lark.Client``: the SDK client is
synchronous (it would block the event loop or need a thread per send), and we need the raw
HTTP status and ``code`` to tell a retry from a permanent refusal.
"""

from __future__ import annotations

from typing import Any

from adapters.feishu.settings import FeishuApp
from bot.http import HttpClient, HttpError, HttpResponse
from bot.message import SendResult
from bot.token_cache import TokenRejected, TokenUnavailable, json_object

RATE_LIMITED = 99991400
TOKEN_INVALID = {99991661, 99991663, 99991664}


async def fetch_tenant_token(http: HttpClient, app: FeishuApp) -> tuple[str, int]:
    body = {"app_id": app.app_id, "app_secret": app.app_secret.get_secret_value()}
    try:
        response = await http.post(f"{app.api_base}/open-apis/auth/v3/tenant_access_token/internal", json=body)
    except HttpError as e:
        raise TokenUnavailable(f"feishu tenant token: {type(e).__name__}", retryable=True) from None
    payload = json_object(response)
    if payload.get("code") == 0 and payload.get("tenant_access_token"):
        return str(payload["tenant_access_token"]), int(payload.get("expire", 7200))
    # The platform's code and msg only: the request carries the app secret.
    reason = f"feishu tenant token HTTP {response.status_code} code {payload.get('code')}: {payload.get('msg', '')}"
    # Wrong credentials will not fix themselves; an outage or a limit will.
    raise TokenUnavailable(reason, retryable=response.status_code == 429 or response.status_code >= 500)


async def fetch_bot_open_id(http: HttpClient, app: FeishuApp, token: str) -> str:
    """The bot's own open_id: a group message is for us only when it mentions that id."""
    try:
        response = await http.get(f"{app.api_base}/open-apis/bot/v3/info", headers={"Authorization": f"Bearer {token}"})
    except HttpError as e:
        raise BotUnknown(f"feishu bot info: {type(e).__name__}") from None
    payload = json_object(response)
    open_id = (payload.get("bot") or {}).get("open_id") if payload.get("code") == 0 else None
    if not open_id:
        raise BotUnknown(f"feishu bot info HTTP {response.status_code} code {payload.get('code')}")
    return str(open_id)


class BotUnknown(Exception):
    pass


async def post_message(
    http: HttpClient, url: str, token: str, body: dict[str, Any], params: dict[str, str]
) -> SendResult:
    """One send or reply call; raises ``TokenRejected`` when the token must be refetched."""
    try:
        response = await http.post(url, json=body, params=params, headers={"Authorization": f"Bearer {token}"})
    except HttpError as e:
        return SendResult.retry(f"feishu send: {type(e).__name__}")
    payload = json_object(response)
    code = payload.get("code")
    if response.status_code == 200 and code == 0:
        return SendResult.success()
    error = f"feishu send HTTP {response.status_code} code {code}: {payload.get('msg', response.text[:200])}"
    if code in TOKEN_INVALID:
        raise TokenRejected(error)
    if code == RATE_LIMITED or response.status_code == 429 or response.status_code >= 500:
        return SendResult.retry(error, retry_after=_retry_after(response))
    return SendResult.permanent(error)


def _retry_after(response: HttpResponse) -> float | None:
    # Feishu's gateway says when the rate-limit window resets.
    reset = response.headers.get("x-ogw-ratelimit-reset", "")
    return float(reset) if reset.isdigit() else None
