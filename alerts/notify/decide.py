"""The timeline decisions, pure (the time is passed in): send, silenced or a repeat, and when a
group of notices is due to go out."""

from __future__ import annotations

from enum import Enum

from alerts.notify.notice import Notice
from alerts.notify.silences import Silence, silenced_by


class Outcome(str, Enum):
    SEND = "send"
    SILENCED = "silenced"
    REPEAT = "repeat"  # the same customer and reason was alerted within the repeat interval


def decide(
    notice: Notice, now: float, silences: list[Silence], last_sent_at: float | None, repeat_interval: float
) -> Outcome:
    if silenced_by(silences, notice, now) is not None:
        return Outcome.SILENCED
    if notice.dedupe_key and last_sent_at is not None and now - last_sent_at < repeat_interval:
        return Outcome.REPEAT
    return Outcome.SEND


def group_due_at(first_at: float, group_wait: float, grouped: bool) -> float:
    """The first notice of a group waits ``group_wait`` for the rest; an ungrouped one goes now."""
    return first_at + group_wait if grouped else first_at


def is_due(due_at: float, now: float) -> bool:
    return now >= due_at
