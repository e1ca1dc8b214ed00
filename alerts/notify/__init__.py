"""Staff notifications, Alertmanager-style: route a ``Notice`` to receivers, silence, don't
repeat within the repeat interval, group a burst into one alert, render it for each receiver
and deliver it through the durable outbox (rate limits, retries, dead letters).

    from alerts.notify import Notice, Notifier
    await runtime.notifier.notify(Notice(kind="ticket", severity="warning", labels={...}, title=...))

Modules: notice (the model), routing, silences, decide (pure timeline decisions), state (Redis
groups and repeat times), render, notifier, escalations (the pipeline's sink), chat
(``/silence``), commands (CLI), checks (check-config).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alerts.notify.chat import SilenceCommands
from alerts.notify.escalations import NotifyingEscalations
from alerts.notify.handles import CustomerHandles
from alerts.notify.labels import Labeler
from alerts.notify.notice import Notice
from alerts.notify.notifier import Notifier
from alerts.notify.render import ROBOT_TYPES

if TYPE_CHECKING:
    from bot.runtime import Runtime

__all__ = ["Notice", "Notifier", "install", "install_chat"]


def install(runtime: "Runtime", robot_sender: Callable[[Any, Any, Callable[[], float]], Any]) -> Notifier:
    """Plug notifications into a runtime. ``robot_sender(receiver, http, clock)`` builds the
    sender of a robot receiver (adapters.robots.create_sender, passed in by the wiring)."""
    settings = runtime.settings.alerts
    notifier = Notifier(settings, runtime.redis, runtime.keys, runtime.outbox, runtime.clock)
    for name, receiver in settings.receivers.items():
        if receiver.type in ROBOT_TYPES:
            runtime.senders[(receiver.type, name)] = robot_sender(receiver, runtime.http, runtime.clock)
    runtime.pipeline.p.escalations = NotifyingEscalations(
        notifier, Labeler.from_settings(runtime.settings), CustomerHandles(runtime.redis, runtime.keys)
    )
    interval = min(1.0, max(0.1, settings.group_wait_seconds / 10))
    runtime.jobs.append(lambda: notifier.run(interval))
    runtime.notifier = notifier  # type: ignore[attr-defined]  # tickets send through it
    return notifier


def install_chat(runtime: "Runtime") -> None:
    """``/silence`` from chat, in front of the staff commands already installed (tickets): call
    it after every other ``pipeline.p.staff`` is set."""
    notifier: Notifier = runtime.notifier  # type: ignore[attr-defined]
    runtime.pipeline.p.staff = SilenceCommands(
        notifier.silences, notifier.settings.silencers, runtime.clock, then=runtime.pipeline.p.staff
    )
