"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

CALLBACKS = Counter("kefu_callbacks_total", "Platform callbacks by outcome", ["platform", "outcome"])
ACK_SECONDS = Histogram(
    "kefu_ack_seconds", "Time to answer a platform callback", ["platform"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)  # fmt: skip
DECISIONS = Counter("kefu_decisions_total", "Pipeline decisions by action", ["action"])
# Per process ("liveall": each live process's own value, by pid, under kefu serve's processes).
MODELS_LOADED = Gauge(
    "kefu_models_loaded", "1 where this process holds the intent and emotion models, 0 in an HTTP process that "
    "leaves the answering to worker processes", multiprocess_mode="liveall",
)  # fmt: skip
SENDS = Counter("kefu_sends_total", "Outbound sends by channel and outcome", ["channel", "outcome"])


@functools.cache
def labelled(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, bound once per label set: ``.labels()`` validates, locks and
    looks up on every call, about twice what the increment itself costs, on the paths every
    message takes. The label sets are few (platforms, outcomes, intents), so the cache stays small."""
    return metric.labels(*labels)


def callbacks(platform: str, outcome: str) -> Any:
    return labelled(CALLBACKS, platform, outcome)


def ack_seconds(platform: str) -> Any:
    return labelled(ACK_SECONDS, platform)


LOOKUPS = Counter(
    "kefu_lookups_total", "Lookups in the shop's systems by kind and outcome (ok, not_found, not_yours, "
    "or the reason it was unavailable)", ["kind", "outcome"],
)  # fmt: skip
MESSAGES = Counter(
    "kefu_messages_total", "Customer messages the workers handled, by channel and outcome (the reply's action, or "
    "too_old)", ["channel", "outcome"],
)  # fmt: skip
INTENTS = Counter("kefu_intents_total", "Customer messages by the intent recognised", ["intent"])
PIPELINE_SECONDS = Histogram(
    "kefu_pipeline_seconds", "Time the bot pipeline took over one customer message",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0),
)  # fmt: skip
REPLY_SECONDS = Histogram(
    "kefu_reply_seconds", "End to end: from the customer's message (the platform's time) to its reply handed to "
    "the sender", buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)  # fmt: skip
ALERTS = Counter(
    "kefu_alerts_total", "Staff notices by kind and what became of them (queued, silenced, repeat, unrouted, ...)",
    ["kind", "status"],
)  # fmt: skip
DEAD_LETTERS = Counter("kefu_dead_letters_total", "Messages parked as dead letters, by queue", ["queue"])
REDIS_ERRORS = Counter("kefu_redis_errors_total", "Redis errors met while working, by where", ["where"])


def count_message(channel: str, outcome: str, intent: str | None, pipeline_seconds: float | None) -> None:
    """One customer message handled (by a worker, or the web channel): its outcome, its intent,
    how long the pipeline took (None: it did not run)."""
    labelled(MESSAGES, channel, outcome).inc()
    if intent:
        labelled(INTENTS, intent).inc()
    if pipeline_seconds is not None:
        PIPELINE_SECONDS.observe(pipeline_seconds)
