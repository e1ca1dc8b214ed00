"""Checks on a Feishu callback: signature, freshness, verification token, and decryption.

Implemented with the documented algorithms rather than lark-oapi's ``EventDispatcherHandler``:
that handler turns every refusal into a 500 carrying the exception text, looks headers up
case-sensitively and runs handlers before the answer goes back, while the gateway needs a clear
403/400 and an answer that only enqueues. Decryption still uses lark-oapi's ``AESCipher``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Mapping

# Importing lark_oapi loads the whole SDK (seconds) and its ws client; do it once, at startup,
# never inside a callback's 3-second deadline.
from lark_oapi.core.utils import AESCipher

from bot.channel import WebhookError

SIGNATURE, TIMESTAMP, NONCE = "x-lark-signature", "x-lark-request-timestamp", "x-lark-request-nonce"


def canonical_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, whatever the server or proxy did to them."""
    return {name.lower(): value for name, value in headers.items()}


def verify_signature(headers: Mapping[str, str], raw_body: bytes, encrypt_key: str) -> None:
    """``X-Lark-Signature = sha256(timestamp + nonce + encrypt_key + raw_body)``, hex."""
    signed = (headers.get(TIMESTAMP, "") + headers.get(NONCE, "") + encrypt_key).encode() + raw_body
    expected = hashlib.sha256(signed).hexdigest()
    if not hmac.compare_digest(expected.encode(), headers.get(SIGNATURE, "").encode()):
        raise WebhookError(403, "bad X-Lark-Signature")


def check_freshness(headers: Mapping[str, str], now: float, window_seconds: int, *, required: bool) -> None:
    """``required`` for signed callbacks: the signature covers timestamp + nonce as one string, so
    a missing timestamp could be moved into the nonce to dodge this check."""
    timestamp = headers.get(TIMESTAMP, "")
    if not timestamp:
        if required:
            raise WebhookError(403, "missing X-Lark-Request-Timestamp")
        return
    if not timestamp.isdigit():
        raise WebhookError(403, "X-Lark-Request-Timestamp is not a number")
    if window_seconds and abs(now - int(timestamp)) > window_seconds:
        raise WebhookError(403, "X-Lark-Request-Timestamp outside the replay window")


def check_token(token: object, expected: str) -> None:
    if not expected:
        raise WebhookError(403, "verification_token is not configured for this app")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
        raise WebhookError(403, "bad verification token")


@functools.lru_cache(maxsize=64)
def _cipher(encrypt_key: str) -> AESCipher:
    return AESCipher(encrypt_key)  # its constructor hashes the key: once per app, not per callback


def decrypt(encrypted: object, encrypt_key: str) -> bytes:
    """The plaintext of an ``{"encrypt": ...}`` body (AES-256-CBC, key = sha256(Encrypt Key))."""
    if not encrypt_key:
        raise WebhookError(400, "encrypted callback but no encrypt_key is configured")
    if not isinstance(encrypted, str):
        raise WebhookError(400, "encrypt is not a string")
    try:
        return _cipher(encrypt_key).decrypt(base64.b64decode(encrypted, validate=True))
    except (ValueError, binascii.Error):
        raise WebhookError(400, "encrypt does not decrypt with the configured key") from None
