"""What the three robot senders share: one JSON POST classified, and shortening by bytes."""

from __future__ import annotations

import json
from typing import Any

from bot.http import HttpClient, HttpError
from bot.message import SendResult

TRUNCATED = "\n…（内容过长，已截断）"


def shorten(text: str, max_bytes: int, suffix: str = TRUNCATED) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (suffix included), on a character boundary."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    room = max(0, max_bytes - len(suffix.encode()))
    return data[:room].decode(errors="ignore") + suffix


async def post_json(
    http: HttpClient, url: str, body: dict[str, Any], who: str
) -> tuple[dict[str, Any], SendResult | None]:
    """The platform's JSON answer, or a final result when the HTTP layer already decided it."""
    try:
        # UTF-8 as is: the platforms count bytes, and \u escapes would double a Chinese text.
        data = json.dumps(body, ensure_ascii=False).encode()
        response = await http.post(url, content=data, headers={"content-type": "application/json; charset=utf-8"})
    except HttpError as e:
        return {}, SendResult.retry(f"{who}: {type(e).__name__}")
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("retry-after", "")
        return {}, SendResult.retry(
            f"{who}: HTTP {response.status_code}", float(retry_after) if retry_after.isdigit() else None
        )
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return {}, SendResult.permanent(f"{who}: HTTP {response.status_code}: {response.text[:200]}")
    return payload, None
