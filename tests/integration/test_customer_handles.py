"""Customer handles: the short numbers hand-over alerts show for ``/release``, on a real Redis."""

from __future__ import annotations

import asyncio

import redis.asyncio as aredis

from alerts.notify.handles import CustomerHandles
from bot.redis_store import Keys


def test_a_customer_keeps_its_number_and_numbers_resolve_to_their_customer(redis_clean: str) -> None:
    async def main() -> None:
        client = aredis.Redis.from_url(redis_clean)
        try:
            handles = CustomerHandles(client, Keys("h"), ttl_seconds=60)
            a, b = await handles.handle_for("wecom_kf:wmA"), await handles.handle_for("web:c2")
            assert a != b and a.isdigit() and b.isdigit()
            assert await handles.handle_for("wecom_kf:wmA") == a  # a second alert: the same number
            assert await handles.resolve(a) == "wecom_kf:wmA" and await handles.resolve(f"#{b}") == "web:c2"
            assert await handles.resolve("999") is None and await handles.resolve("wecom_kf:wmA") is None
            racing = await asyncio.gather(*(handles.handle_for("web:new") for _ in range(5)))
            assert len(set(racing)) == 1 and await handles.resolve(racing[0]) == "web:new"
            assert 0 < await client.ttl(f"h:handles:{a}") <= 60  # forgotten when unused
        finally:
            await client.aclose()

    asyncio.run(main())
