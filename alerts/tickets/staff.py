"""Who may do what: the configured staff map per platform (user id -> name, role, team)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerts.tickets.model import Actor

STAFF_PLATFORM = {"wecom": "wecom", "dingtalk": "dingtalk", "feishu": "feishu"}


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
    def __init__(self, staff: Mapping[str, Mapping[str, object]]) -> None:
        self._by_platform: dict[str, dict[str, Staff]] = {}
        for platform, members in staff.items():
            for user_id, m in members.items():
                self._by_platform.setdefault(platform, {})[user_id] = Staff(
                    platform, user_id, getattr(m, "name"), getattr(m, "role"), getattr(m, "team", "")
                )

    def lookup(self, channel: str, user_id: str) -> Staff | None:
        platform = STAFF_PLATFORM.get(channel)
        return self._by_platform.get(platform or "", {}).get(user_id) if platform else None

    def find(self, channel: str, who: str) -> Staff | None:
        """A colleague named in a command: ``@张三``, ``张三`` or their user id, on the same platform."""
        who = who.strip().lstrip("@＠").strip()
        members = self._by_platform.get(STAFF_PLATFORM.get(channel, ""), {})
        if who in members:
            return members[who]
        named = [s for s in members.values() if s.name == who]
        return named[0] if len(named) == 1 else None
