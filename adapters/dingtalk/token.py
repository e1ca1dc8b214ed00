"""The app's access token from ``/v1.0/oauth2/accessToken``, for the robot API fallback."""

from __future__ import annotations

from adapters.dingtalk.settings import DingtalkApp
from bot.http import HttpClient, HttpError
from bot.token_cache import TokenUnavailable, json_object


async def fetch_access_token(http: HttpClient, app: DingtalkApp) -> tuple[str, int]:
    body = {"appKey": app.app_key, "appSecret": app.app_secret.get_secret_value()}
    try:
        response = await http.post(f"{app.api_base}/v1.0/oauth2/accessToken", json=body)
    except HttpError as e:
        raise TokenUnavailable(f"dingtalk accessToken: {type(e).__name__}", retryable=True) from None
    payload = json_object(response)
    if response.status_code == 200 and payload.get("accessToken"):
        return str(payload["accessToken"]), int(payload.get("expireIn", 7200))
    # Never echo the request: it carries the secret. The platform's code and message are enough.
    reason = f"dingtalk accessToken HTTP {response.status_code}: {str(payload)[:200]}"
    # Wrong credentials will not fix themselves; an outage or a limit will.
    raise TokenUnavailable(reason, retryable=response.status_code == 429 or response.status_code >= 500)
