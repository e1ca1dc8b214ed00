"""Lua scripts by SHA against a real Redis: loaded on first use and again after the server forgot them."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aredis

from bot.redis_pipelining import PipeliningRedis, send_together
from bot.redis_scripts import LuaScript

_INCR_BY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.mark.parametrize("client", [aredis.Redis, PipeliningRedis])
def test_a_script_runs_before_and_after_the_server_flushes_its_scripts(redis_clean: str, client: type) -> None:
    async def scenario() -> list[int]:
        r = client.from_url(redis_clean)
        script = LuaScript(r, _INCR_BY)
        await r.script_flush()  # never loaded: the first call meets NOSCRIPT
        first = await script(keys=["n"], args=[2])
        await r.script_flush()  # as after a restart of the server
        second, third = await asyncio.gather(script(keys=["n"], args=[3]), script(keys=["n"], args=[4]))
        await r.aclose()
        return [first, second, third]

    first, second, third = asyncio.run(scenario())
    # Each ran once; the two at once may reach Redis in either order (a pooled client sends
    # them on two connections).
    assert first == 2 and sorted([second, third]) in ([5, 9], [6, 9])


def test_a_script_sent_with_other_commands_runs_on_its_own_when_the_server_forgot_it(redis_clean: str) -> None:
    async def scenario() -> list[object]:
        r = PipeliningRedis.from_url(redis_clean)
        script = LuaScript(r, _INCR_BY)
        await r.script_flush()
        got, replied = await send_together(r, [("GET", "n"), script.command(["n"], [5])])
        total = await script.reply(replied, ["n"], [5])
        again = await script.reply((await send_together(r, [script.command(["n"], [1])]))[0], ["n"], [1])
        await r.aclose()
        return [got, type(replied).__name__, total, again]

    assert asyncio.run(scenario()) == [None, "NoScriptError", 5, 6]
