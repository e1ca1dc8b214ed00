"""Request signing of the shop API, both ends (kefu signs, a shop and the demo shop verify).

``X-Kefu-Signature`` = hex HMAC-SHA256(secret, "<timestamp>\\n<METHOD>\\n<target>\\n<body>"), where
``target`` is the request target exactly as sent: the path from the root (``api_base``'s prefix
included) with its query string; ``body`` is empty for a GET.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

REPLAY_WINDOW_SECONDS = 300  # a signed request older or newer than this is refused


def signature(secret: str, timestamp: str, method: str, target: str, body: bytes = b"") -> str:
    message = f"{timestamp}\n{method.upper()}\n{target}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    app_key: str, secret: str, method: str, target: str, now: float, body: bytes = b""
) -> dict[str, str]:
    timestamp = str(int(now))
    return {
        "X-Kefu-Key": app_key,
        "X-Kefu-Timestamp": timestamp,
        "X-Kefu-Signature": signature(secret, timestamp, method, target, body),
    }


def verify(
    headers: Mapping[str, str],
    method: str,
    target: str,
    body: bytes,
    *,
    app_key: str,
    secret: str,
    now: float,
) -> str | None:
    """None when the request is signed by ``app_key``/``secret`` and fresh; else what is wrong."""
    get = headers.get
    key, timestamp, sig = get("x-kefu-key", ""), get("x-kefu-timestamp", ""), get("x-kefu-signature", "")
    if not (key and timestamp and sig):
        return "missing X-Kefu-Key, X-Kefu-Timestamp or X-Kefu-Signature"
    if not hmac.compare_digest(key.encode(), app_key.encode()):
        return "unknown X-Kefu-Key"
    if not timestamp.isdigit() or abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return "X-Kefu-Timestamp missing or too far from now"
    expected = signature(secret, timestamp, method, target, body)
    if not hmac.compare_digest(sig.lower().encode(), expected.encode()):
        return "bad X-Kefu-Signature"
    return None
