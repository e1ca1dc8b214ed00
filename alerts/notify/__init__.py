"""Staff notifications, Alertmanager-style: route a ``Notice`` to receivers, silence, don't
repeat within the repeat interval, group a burst into one alert, render it for each receiver
and deliver it through the durable outbox (rate limits, retries, dead letters).

    contribution, notifier = build(settings.alerts, labeler, infra, robot_sender)  # once, by the root
    await notifier.notify(Notice(kind="ticket", severity="warning", labels=labeler.labels("ticket"), title=...))

Modules: notice (the model), labels (every notice's routing labels), routing, silences, decide
(pure timeline decisions), state (Redis groups and repeat times), render, notifier, escalations
(the pipeline's sink), handles (short customer numbers for ``/release``), chat (``/silence``),
commands (CLI), checks (check-config).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alerts.notify.chat import SilenceCommands
from alerts.notify.escalations import NotifyingEscalations
from alerts.notify.handles import CustomerHandles
from alerts.notify.labels import Labeler
from alerts.notify.notice import Notice
from alerts.notify.notifier import Notifier
from alerts.notify.settings import AlertsSettings
from bot.features import Contribution, Infra
from bot.outbox import Sender

RobotSenderFactory = Callable[[Any, Any, Callable[[], float]], Sender | None]

__all__ = ["Notice", "Notifier", "build"]


def build(
    settings: AlertsSettings, labeler: Labeler, infra: Infra, robot_sender: RobotSenderFactory
) -> tuple[Contribution, Notifier]:
    """The notifier (for the features that notify through it, tickets) and what notifications
    add to the bot: the pipeline's escalation sink, ``/silence`` from chat, the robot receivers'
    senders and the group flush job. ``robot_sender(receiver, http, clock)`` builds the sender of
    a robot receiver (adapters.robots.create_sender, passed in by the composition root)."""
    notifier = Notifier(settings, infra.redis, infra.keys, infra.outbox, infra.clock)
    escalations = NotifyingEscalations(notifier, labeler, CustomerHandles(infra.redis, infra.keys))
    senders: dict[tuple[str, str], Sender] = {  # app receivers: sent by their channel's adapter
        (receiver.type, name): sender
        for name, receiver in settings.receivers.items()
        if (sender := robot_sender(receiver, infra.http, infra.clock)) is not None
    }
    interval = min(1.0, max(0.1, settings.group_wait_seconds / 10))
    contribution = Contribution(
        escalations=escalations,
        staff=(SilenceCommands(notifier.silences, settings.silencers, infra.clock),),
        senders=senders,
        jobs=[lambda: notifier.run(interval)],
    )
    return contribution, notifier
