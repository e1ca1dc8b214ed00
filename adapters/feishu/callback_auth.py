"""Checks on a Feishu callback: signature, freshness, verification token, and decryption.

Implemented with the documented algorithms rather than lark-oapi's ``EventDispatcherHandler``:
that handler turns every refusal into a 500 carrying the exception text, looks headers up
case-sensitively and runs handlers before the answer goes back, while the gateway needs a clear
403/400 and an answer that only enqueues. Decryption is lark-oapi's ``AESCipher.decrypt``, check
for check, on ``cryptography``'s AES (bot/aes_cbc.py): the SDK's pycryptodome ``AES.new`` per
callback cost more than the rest of a Feishu callback's decryption (tests compare the two on good
and bad input).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Mapping

from bot.aes_cbc import cbc_decrypt
from bot.channel import WebhookError
from bot.parsing import Malformed, timestamp_seconds

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
    try:
        sent_at = timestamp_seconds(timestamp)
    except Malformed:
        raise WebhookError(403, "X-Lark-Request-Timestamp is not a number") from None
    if window_seconds and abs(now - sent_at) > window_seconds:
        raise WebhookError(403, "X-Lark-Request-Timestamp outside the replay window")


def check_token(token: object, expected: str) -> None:
    if not expected:
        raise WebhookError(403, "verification_token is not configured for this app")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
        raise WebhookError(403, "bad verification token")


_BLOCK = 16


@functools.lru_cache(maxsize=64)
def _aes_key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode()).digest()  # once per app, not per callback


def aes_cbc_decrypt(enc: bytes, encrypt_key: str) -> bytes:
    """``iv + ciphertext`` decrypted and unpadded, refusing what lark-oapi's ``AESCipher.decrypt``
    refuses, with the same ``ValueError``s: a length, an empty plaintext, a PKCS#7 padding."""
    if len(enc) < _BLOCK * 2 or len(enc) % _BLOCK != 0:
        raise ValueError("invalid ciphertext length")
    s = cbc_decrypt(_aes_key(encrypt_key), enc[:_BLOCK], enc[_BLOCK:])
    if not s:
        raise ValueError("invalid ciphertext: empty plaintext")
    pad = s[-1]
    if pad < 1 or pad > _BLOCK or pad > len(s):
        raise ValueError("invalid PKCS7 padding")
    if s[-pad:] != bytes([pad]) * pad:
        raise ValueError("invalid PKCS7 padding")
    return s[:-pad]


def decrypt(encrypted: object, encrypt_key: str) -> bytes:
    """The plaintext of an ``{"encrypt": ...}`` body (AES-256-CBC, key = sha256(Encrypt Key))."""
    if not encrypt_key:
        raise WebhookError(400, "encrypted callback but no encrypt_key is configured")
    if not isinstance(encrypted, str):
        raise WebhookError(400, "encrypt is not a string")
    try:
        return aes_cbc_decrypt(base64.b64decode(encrypted, validate=True), encrypt_key)
    except (ValueError, binascii.Error):
        raise WebhookError(400, "encrypt does not decrypt with the configured key") from None
