"""Silences: no alert for a customer (id, or the masked id staff see) or a reason (substring)
until the silence ends. Set from chat (``/silence 2h 客户ID或原因``) or the CLI; kept in Redis."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass

import redis.asyncio as aredis

from alerts.notify.notice import Notice
from bot.nlu.normalize import mask_customer, mask_id
from bot.redis_store import Keys

_UNITS = {"s": 1, "秒": 1, "m": 60, "min": 60, "分": 60, "分钟": 60, "h": 3600, "小时": 3600, "时": 3600,
          "d": 86400, "天": 86400, "w": 604800, "周": 604800}  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(min|分钟|小时|s|m|h|d|w|秒|分|时|天|周)", re.IGNORECASE)
MAX_SECONDS = 30 * 86400
USAGE = "用法：/silence 2h 客户ID或原因（时长如 30m、2h、1d，最长 30 天）"


class SilenceError(ValueError):
    """A silence that cannot be set; the message is for the person who asked, in Chinese."""


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m``, ``2小时`` -> seconds."""
    compact = text.strip().lower()
    parts = _PART.findall(compact)
    if not parts or _PART.sub("", compact).strip():
        raise SilenceError(f"无法识别时长 {text!r}。{USAGE}")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not 0 < seconds <= MAX_SECONDS:
        raise SilenceError(f"时长需在 1 秒到 30 天之间。{USAGE}")
    return seconds


def parse_silence_command(text: str) -> tuple[float, str]:
    """``/silence 2h 客户ID或原因`` -> (seconds, matcher)."""
    words = text.strip().split(maxsplit=2)
    if not words or words[0].lower() != "/silence" or len(words) < 3 or not words[2].strip():
        raise SilenceError(USAGE)
    return parse_duration(words[1]), words[2].strip()


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matcher: str
    starts_at: float
    ends_at: float
    created_by: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, notice: Notice) -> bool:
        m = self.matcher
        sender = notice.customer_key.split(":", 1)[-1]
        forms = (notice.customer_key, sender, mask_id(sender), mask_customer(notice.customer_key))
        if notice.customer_key and m in forms:
            return True
        return len(m) >= 2 and any(m in part for part in (notice.reason, notice.title))


def silenced_by(silences: list[Silence], notice: Notice, now: float) -> Silence | None:
    return next((s for s in silences if s.active(now) and s.matches(notice)), None)


class SilenceStore:
    def __init__(self, redis: aredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys.of("alerts", "silences")

    async def add(self, matcher: str, seconds: float, now: float, created_by: str = "") -> Silence:
        if not matcher.strip():
            raise SilenceError(USAGE)
        silence = Silence(uuid.uuid4().hex[:8], matcher.strip(), now, now + seconds, created_by)
        await self._redis.hset(self._key, silence.id, json.dumps(asdict(silence), ensure_ascii=False))
        return silence

    async def all(self) -> list[Silence]:
        raw = await self._redis.hgetall(self._key)
        return sorted((Silence(**json.loads(v)) for v in raw.values()), key=lambda s: s.ends_at)

    async def active(self, now: float) -> list[Silence]:
        silences = await self.all()
        ended = [s.id for s in silences if s.ends_at <= now - 7 * 86400]  # kept a week for the record
        if ended:
            await self._redis.hdel(self._key, *ended)
        return [s for s in silences if s.active(now)]

    async def expire(self, silence_id: str, now: float) -> bool:
        raw = await self._redis.hget(self._key, silence_id)
        if raw is None:
            return False
        data = json.loads(raw)
        data["ends_at"] = min(data["ends_at"], now)
        await self._redis.hset(self._key, silence_id, json.dumps(data, ensure_ascii=False))
        return True
