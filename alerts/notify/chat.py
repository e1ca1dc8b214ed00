"""``/silence 2h 客户ID或原因`` from chat, for the staff listed in ``alerts.silencers``; any other
message is left to the next staff command handler (tickets)."""

from __future__ import annotations

import time
from collections.abc import Callable

from alerts.notify.silences import SilenceError, SilenceStore, parse_silence_command
from bot.message import InboundMessage


def describe_seconds(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)} 天"
    if seconds >= 3600:
        return f"{seconds / 3600:g} 小时"
    return f"{seconds / 60:g} 分钟"


class SilenceCommands:
    def __init__(self, store: SilenceStore, silencers: list[str], clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._silencers = set(silencers)
        self._clock = clock

    async def handle(self, message: InboundMessage) -> str | None:
        if message.text.split(maxsplit=1)[:1] != ["/silence"]:
            return None
        if not ({message.sender_id, f"{message.channel}:{message.sender_id}"} & self._silencers):
            return None  # not staff: the customer's text goes through the pipeline as any other
        try:
            seconds, matcher = parse_silence_command(message.text)
        except SilenceError as e:
            return str(e)
        silence = await self._store.add(matcher, seconds, self._clock(), f"{message.channel}:{message.sender_id}")
        return f"已静默 {describe_seconds(seconds)}：{matcher}（编号 {silence.id}）"
