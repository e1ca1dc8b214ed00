"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CALLBACKS = Counter("kefu_callbacks_total", "Platform callbacks by outcome", ["platform", "outcome"])
ACK_SECONDS = Histogram(
    "kefu_ack_seconds", "Time to answer a platform callback", ["platform"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)  # fmt: skip
DECISIONS = Counter("kefu_decisions_total", "Pipeline decisions by action", ["action"])
SENDS = Counter("kefu_sends_total", "Outbound sends by channel and outcome", ["channel", "outcome"])
