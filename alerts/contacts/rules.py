"""Pure decisions about contacts, with the time passed in: is this message a new contact, and
which repeat-contact rules hold now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    contacts: int
    within_hours: float

    @property
    def seconds(self) -> float:
        return self.within_hours * 3600

    def describe(self) -> str:
        """For people: "1天内进线3次", "3天内进线3次", "12小时内进线3次"."""
        if self.within_hours >= 24 and self.within_hours % 24 == 0:
            span = f"{int(self.within_hours // 24)}天"
        else:
            span = f"{self.within_hours:g}小时"
        return f"{span}内进线{self.contacts}次"


def fired_rules(contact_times: Sequence[float], now: float, rules: Sequence[Rule]) -> list[Rule]:
    """The rules that hold at ``now``: at least ``contacts`` contacts in the last ``within_hours``
    (the window includes ``now`` and is open at its far end)."""
    fired = []
    for rule in rules:
        recent = [t for t in contact_times if now - rule.seconds < t <= now]
        if len(recent) >= rule.contacts:
            fired.append(rule)
    return fired


def strongest(rules: Sequence[Rule]) -> Rule | None:
    """The rule to name on the ticket: the tightest window first, then the most contacts."""
    return min(rules, key=lambda r: (r.within_hours, -r.contacts), default=None)
