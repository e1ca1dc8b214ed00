"""A worker profile summed by area: where a message's CPU goes, from py-spy's raw output.

    py-spy record --pid <worker pid> --duration 25 --rate 200 --format raw --output worker.raw
    python bench/profile_areas.py worker.raw [--us-per-message 826]

Record while ``bench/gateway_load.py --rate 1000`` runs (the worker is ``kefu worker ...`` in the
process list). A sample counts for the risk scorer or the intent model when either is on its
stack (their own normalisation included); otherwise for the first area its innermost frames
name. With ``--us-per-message`` (the benchmark's worker CPU per callback), shares become µs.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

OWNERS = [
    ("risk scorer (its normalisation, rules, emotion model)", r"ScorerAssessor\.assess"),
    ("intent model (normalisation, both models, decision)", r"LoadedModel\.decide|bot/nlu/normalize"),
]
AREAS = [
    (
        "Redis client (batches, redis-py parsing, scripts)",
        r"redis_pipelining|coalesce\.py|/redis/|redis_scripts|hiredis",
    ),
    ("HTTP client (aiohttp) sending the reply", r"aiohttp|bot/http\.py|yarl|multidict"),
    ("metrics (prometheus_client)", r"prometheus_client|bot/metrics\.py"),
    ("JSON and message objects", r"json/|bot/message\.py|__create_fn__|dataclasses\.py"),
    ("platform adapters (payloads, tokens)", r"adapters/|token_cache"),
    ("dialogue state, contact log, insight record", r"bot/dialogue\.py|alerts/contacts|alerts/insights"),
    ("pipeline and outbox logic", r"bot/pipeline\.py|bot/outbox\.py|bot/worker\.py|bot/order_talk|bot/replies"),
    ("queue, lanes, logging context", r"bot/queue\.py|bot/lanes\.py|bot/logs\.py|logging/"),
]
REST = "event loop (uvloop, asyncio tasks and futures)"


def area_of(frames: list[str]) -> str:
    owner = next((name for frame in frames for name, rx in OWNERS if re.search(rx, frame)), None)
    if owner:
        return owner
    for frame in reversed(frames):
        for name, rx in AREAS:
            if re.search(rx, frame):
                return name
    return REST


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", type=Path, help="py-spy --format raw output")
    parser.add_argument("--us-per-message", type=float, help="the worker's CPU per callback, from the benchmark")
    args = parser.parse_args()
    samples: Counter[str] = Counter()
    for line in args.raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples[area_of(stack.split(";"))] += int(count)
    total = sum(samples.values())
    print(f"| area | share of {total} samples |" + (" µs a message |" if args.us_per_message else ""))
    for name, count in samples.most_common():
        us = f" {args.us_per_message * count / total:.0f} |" if args.us_per_message else ""
        print(f"| {name} | {100 * count / total:.1f} % |{us}")


if __name__ == "__main__":
    main()
