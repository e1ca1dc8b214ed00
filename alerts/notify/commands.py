"""What ``kefu silence add|list|expire`` and ``kefu alerts recent`` do, apart from printing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

import redis.asyncio as aredis

from alerts.notify.notifier import recent_key
from alerts.notify.silences import SilenceStore, parse_duration
from bot.redis_store import Keys, connected
from bot.settings import CoreSettings

T = TypeVar("T")


def _with_redis(settings: CoreSettings, work: Callable[[aredis.Redis, Keys], Awaitable[T]]) -> T:
    async def run() -> T:
        async with connected(settings.redis_url, settings.data_dir) as client:
            return await work(client, Keys(settings.key_prefix))

    return asyncio.run(run())


def silence_add(settings: CoreSettings, duration: str, matcher: str, by: str = "cli") -> dict[str, Any]:
    """Raises ``SilenceError`` (a ValueError, message in Chinese) for a bad duration or matcher."""
    seconds = parse_duration(duration)
    return _with_redis(settings, lambda r, k: _add(SilenceStore(r, k), matcher, seconds, by))


async def _add(store: SilenceStore, matcher: str, seconds: float, by: str) -> dict[str, Any]:
    return asdict(await store.add(matcher, seconds, time.time(), by))


def silence_list(settings: CoreSettings, include_ended: bool = False) -> list[dict[str, Any]]:
    async def work(r: aredis.Redis, k: Keys) -> list[dict[str, Any]]:
        store, now = SilenceStore(r, k), time.time()
        silences = await (store.all() if include_ended else store.active(now))
        return [dict(asdict(s), active=s.active(now)) for s in silences]

    return _with_redis(settings, work)


def silence_expire(settings: CoreSettings, silence_id: str) -> bool:
    return _with_redis(settings, lambda r, k: SilenceStore(r, k).expire(silence_id, time.time()))


def alerts_recent(settings: CoreSettings, limit: int = 20) -> list[dict[str, Any]]:
    """The latest notices, newest first: at, kind, severity, title, customer (masked), reason,
    labels, receivers, status (queued | silenced | repeat | unrouted)."""

    async def work(r: aredis.Redis, k: Keys) -> list[dict[str, Any]]:
        return [json.loads(x) for x in await r.lrange(recent_key(k), 0, limit - 1)]

    return _with_redis(settings, work)


def format_alert(entry: dict[str, Any]) -> str:
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["at"]))
    to = ",".join(entry["receivers"]) or "-"
    return f"{at}  {entry['severity']:<8} {entry['status']:<8} {entry['customer']:<9} {entry['title']}：{entry['reason']}  -> {to}"
