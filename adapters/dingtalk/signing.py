"""DingTalk's HmacSHA256 signatures: the app robot's callback header and the custom robot URL.

Both use ``base64(HmacSHA256(key=secret, msg=timestamp + "\\n" + secret))`` with a millisecond
timestamp; the custom robot carries it URL-encoded in the query string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote_plus

from bot.channel import WebhookError
from bot.parsing import Malformed, timestamp_seconds


def sign(timestamp_ms: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_callback(headers: Mapping[str, str], secret: str, now: float, window_seconds: int) -> None:
    """Check the ``timestamp``/``sign`` headers of an app-robot callback; 403 on any doubt."""
    timestamp, signature = headers.get("timestamp", ""), headers.get("sign", "")
    if not timestamp or not signature:
        raise WebhookError(403, "missing timestamp or sign header")
    try:
        sent_at = timestamp_seconds(timestamp, 1000)
    except Malformed:
        raise WebhookError(403, "timestamp is not a number of milliseconds") from None
    # A stolen signed request must not be replayable forever: DingTalk itself allows one hour.
    if window_seconds and abs(now - sent_at) > window_seconds:
        raise WebhookError(403, "timestamp outside the replay window")
    if not hmac.compare_digest(sign(timestamp, secret).encode(), signature.encode()):
        raise WebhookError(403, "bad signature")


def signed_robot_url(webhook_url: str, secret: str, now: float) -> str:
    """A custom group robot's webhook URL (with ``access_token``) plus ``timestamp`` and ``sign``."""
    timestamp = str(int(now * 1000))
    separator = "&" if "?" in webhook_url else "?"
    return f"{webhook_url}{separator}timestamp={timestamp}&sign={quote_plus(sign(timestamp, secret))}"
