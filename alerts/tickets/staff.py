"""Who may do what: the configured staff map per platform (user id -> name, role, team)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerts.tickets.model import Actor
from alerts.tickets.settings import StaffMember


@dataclass(frozen=True, slots=True)
class Staff:
    platform: str
    user_id: str
    name: str
    role: str  # "agent" | "manager"
    team: str

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.user_id}"

    def actor(self, via: str) -> Actor:
        return Actor(self.key, self.name, via)


class StaffDirectory:
    def __init__(self, staff: Mapping[str, Mapping[str, StaffMember]]) -> None:
        self._by_platform: dict[str, dict[str, Staff]] = {}
        for platform, members in staff.items():
            for user_id, m in members.items():
                self._by_platform.setdefault(platform, {})[user_id] = Staff(platform, user_id, m.name, m.role, m.team)

    def lookup(self, channel: str, user_id: str) -> Staff | None:
        """Staff write on their platform's staff channel, named like the platform (``wecom``)."""
        return self._by_platform.get(channel, {}).get(user_id)

    def find(self, channel: str, who: str) -> Staff | None:
        """A colleague named in a command: ``@张三``, ``张三`` or their user id, on the same platform."""
        who = who.strip().lstrip("@＠").strip()
        members = self._by_platform.get(channel, {})
        if who in members:
            return members[who]
        named = [s for s in members.values() if s.name == who]
        return named[0] if len(named) == 1 else None
