"""What recording a turn for insight costs the worker: CPU per message through the real pipeline
(real Redis, the real model) with the insight recorder and without it, in alternated runs, and
the Redis round trips each message takes either way.

    python bench/insight_record.py [--messages 500] [--rounds 9] [--data-dir ./data]

CPU is this process's (``time.process_time``): the worker's, not redis-server's. Messages go one
at a time, each from a new customer, half of them questions the knowledge base answers and half
ones it does not (whose text is kept). Also prints the cost of building the command alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alerts.insights.recorder import InsightRecorder
from bot.dialogue import DialogueState
from bot.message import InboundMessage
from bot.ports import NoTurnLog, TurnLog, TurnRecord
from bot.runtime import Runtime
from bot.runtime.settings import load_settings

TEXTS = ["我的快递到哪了", "怎么退货", "能不能在杯子上刻名字", "学生党有优惠吗"]


def message(n: int) -> InboundMessage:
    user = uuid.uuid4().hex[:12]
    return InboundMessage(
        channel="web", app="default", conversation_id=user, sender_id=user, text=TEXTS[n % len(TEXTS)],
        message_id=uuid.uuid4().hex, sent_at=time.time(),
    )  # fmt: skip


async def run(rt: Runtime, turns: TurnLog, count: int, batches: list[int]) -> tuple[float, float]:
    """CPU µs and Redis round trips per message with ``turns`` as the pipeline's turn log;
    ``batches[0]`` counts the round trips."""
    rt.pipeline.p.turns = turns
    messages = [message(n) for n in range(count)]
    before, start = batches[0], time.process_time()
    for m in messages:
        await rt.pipeline.handle(m)
    return (time.process_time() - start) / count * 1e6, (batches[0] - before) / count


async def saves(rt: Runtime, recorder: InsightRecorder, args: argparse.Namespace) -> None:
    """The part of a message that recording changes, alone (less noise than whole messages): the
    dialogue save; the save with a trivial command in its batch (what sharing the round trip
    costs, whatever the command); the save with the turn's record built and sent in its batch."""
    dialogue, state = rt.pipeline.p.dialogue, DialogueState()
    m = message(2)
    extras: dict[str, Callable[[], tuple[Any, ...] | None]] = {
        "alone": lambda: None,
        "with EXISTS": lambda: ("EXISTS", "kefu:bench:nothing"),
        "with the record": lambda: recorder.command(TurnRecord(m, "fallback", None, None, 0.12, time.time())),
    }

    async def timed(extra: Callable[[], tuple[Any, ...] | None]) -> float:
        start = time.process_time()
        for _ in range(args.messages):
            await dialogue.save(m.customer_key, state, extra())
        return (time.process_time() - start) / args.messages * 1e6

    runs: dict[str, list[float]] = {name: [] for name in extras}
    for _ in range(args.rounds):
        for name, extra in extras.items():
            runs[name].append(await timed(extra))
    alone = runs["alone"]
    for name in extras:
        paired = [w - wo for w, wo in zip(runs[name], alone, strict=True)]
        print(
            f"dialogue save {name:<16} {statistics.median(runs[name]):7.1f} µs CPU, "
            f"{statistics.median(paired):+6.1f} µs against alone (median of {args.rounds} paired runs of {args.messages})"
        )


async def main(args: argparse.Namespace) -> None:
    settings = load_settings(None).model_copy(update={"data_dir": args.data_dir})
    rt = Runtime.start(settings)
    recorder = InsightRecorder(rt.keys, settings.insights.retention_days, settings.insights.low_confidence)
    counter = [0]
    send = rt.redis._batches._call_batch  # type: ignore[attr-defined]

    async def counted(batch: list[Any]) -> Any:
        counter[0] += 1
        return await send(batch)

    rt.redis._batches._call_batch = counted  # type: ignore[attr-defined]
    try:
        await saves(rt, recorder, args)
        await run(rt, recorder, args.messages, counter)  # warm-up
        cpu: dict[str, list[float]] = {"without": [], "with": []}
        trips: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(args.rounds):
            for name, turns in (("without", NoTurnLog()), ("with", recorder)):
                used, round_trips = await run(rt, turns, args.messages, counter)
                cpu[name].append(used)
                trips[name].append(round_trips)
    finally:
        await rt.close()
    for name in ("without", "with"):
        print(
            f"{name:>7} recording: {statistics.median(cpu[name]):7.1f} µs CPU a message (median of {args.rounds}), "
            f"{statistics.median(trips[name]):.2f} Redis round trips a message"
        )
    paired = [w - wo for w, wo in zip(cpu["with"], cpu["without"], strict=True)]
    print(
        f"recording costs {statistics.median(paired):+.1f} µs a message (median of the rounds' differences; "
        f"they ranged {min(paired):+.1f} to {max(paired):+.1f})"
    )
    m = message(2)
    record = TurnRecord(m, "fallback", None, None, 0.12, time.time())
    n = 20000
    print(f"building the command alone: {timeit.timeit(lambda: recorder.command(record), number=n) / n * 1e6:.2f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--data-dir", type=Path, default=Path("./data"))
    asyncio.run(main(parser.parse_args()))
