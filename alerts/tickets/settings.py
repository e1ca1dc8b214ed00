"""Repeat-contact and ticket settings: contact rules, teams, staff roles, schedules
(owned by the tickets feature).

Worked example (config/kefu.yaml)::

    tickets:
      session_gap_minutes: 30          # a contact is a first message after this much silence
      rules:                           # any rule that holds opens (or adds to) a ticket
        - {contacts: 3, within_hours: 24}
        - {contacts: 3, within_hours: 72}
      reopen_within_days: 7            # a closed ticket is reopened instead of opening a new one
      default_team: kefu
      teams:
        kefu:      {categories: [], labels: {team: kefu}}
        logistics: {categories: [logistics], labels: {team: logistics}}
      staff:                           # per platform: the platform's user id -> who and what role
        wecom:    {zhangsan: {name: 张三, role: manager, team: kefu}}
        feishu:   {ou_123: {name: 李四, role: agent, team: logistics}}
        dingtalk: {"0123": {name: 王五, role: manager, team: kefu}}
      identity_map:                    # one person -> their customer keys on several channels
        alice: ["wecom_kf:wmA1", "wechat:oX9"]
      escalation: {unacked_minutes: 30, open_hours: 24, check_seconds: 60}
      schedules: {timezone: Asia/Shanghai, digest: "09:00", weekly: "mon 09:30"}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from alerts.notify.settings import TeamSettings
from bot.settings.base import StrictModel, time_zone, weekly_time


class ContactRule(StrictModel):
    contacts: int = Field(ge=2, le=100)
    within_hours: float = Field(gt=0, le=24 * 90)


class StaffMember(StrictModel):
    name: str
    role: Literal["agent", "manager"] = "agent"
    team: str = ""


class EscalationSettings(StrictModel):
    unacked_minutes: int = Field(default=30, ge=1)  # not acknowledged this long: tell the managers
    open_hours: float = Field(default=24, gt=0)  # still not closed this long: tell them again
    check_seconds: int = Field(default=60, ge=1)  # how often the scheduler looks


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ScheduleSettings(StrictModel):
    timezone: str = "Asia/Shanghai"
    digest: str = "09:00"  # daily digest of open tickets per team, "" turns it off
    weekly: str = "mon 09:30"  # weekly review, "" turns it off
    leader_ttl_seconds: int = Field(default=15, ge=2)  # a dead leader's lock moves after this

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return time_zone(v)

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str) -> str:
        if v and not _HHMM.match(v):
            raise ValueError('expected "HH:MM", e.g. "09:00"')
        return v

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, v: str) -> str:
        return weekly_time(v, "mon 09:30")


def _default_rules() -> list[ContactRule]:
    return [ContactRule(contacts=3, within_hours=24), ContactRule(contacts=3, within_hours=72)]


class TicketsSettings(StrictModel):
    enabled: bool = True
    session_gap_minutes: float = Field(default=30, gt=0)
    rules: list[ContactRule] = Field(default_factory=_default_rules)
    reopen_within_days: float = Field(default=7, ge=0)
    default_team: str = "kefu"
    teams: dict[str, TeamSettings] = Field(default_factory=dict)
    # platform (one where staff work: check-config names any other) -> user id -> who
    staff: dict[str, dict[str, StaffMember]] = Field(default_factory=dict)
    identity_map: dict[str, list[str]] = Field(default_factory=dict)  # person -> customer keys
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    schedules: ScheduleSettings = Field(default_factory=ScheduleSettings)
    excerpt_chars: int = Field(default=60, ge=10, le=500)
    timeline_max: int = Field(default=50, ge=3)  # contacts kept on one ticket
