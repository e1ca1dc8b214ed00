"""Staff notification settings: receivers, routing rules, grouping, repeat intervals, silences
(owned by the alerts feature).

```yaml
alerts:
  receivers:
    ops_group: {type: wecom_robot, webhook_key: "…", mentioned_list: ["@all"]}
    managers:  {type: feishu_bot, webhook: "https://open.feishu.cn/open-apis/bot/v2/hook/…", secret: "…"}
    leads:     {type: wecom_app, app: default, users: [zhangsan, lisi]}
  routes:
    - match: {severity: critical}
      receivers: [managers]
      continue: true
    - match: {channel: [wecom, wecom_kf], category: after_sales}
      receivers: [ops_group]
  default_receivers: [ops_group]
```

No receivers at all: alerts are recorded (``kefu alerts recent``) and sent nowhere.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from bot.settings.base import StrictModel

SEVERITIES = ("info", "warning", "critical")


def _http_url(value: str, key: str) -> str:
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{key} must be an http(s) URL such as https://host, got {value!r}")
    return value.rstrip("/")


class _Receiver(StrictModel):
    # Over the platform's own limit the platform blocks us; empty: the type's default (rate_limits).
    rate_per_minute: float | None = Field(default=None, gt=0)
    rate_burst: int | None = Field(default=None, ge=1)


class _WithApiBase(_Receiver):
    api_base: str = ""

    @field_validator("api_base")
    @classmethod
    def _base_is_url(cls, value: str) -> str:
        return _http_url(value, "api_base")


class WecomRobotReceiver(_WithApiBase):
    """A WeCom group robot: ``cgi-bin/webhook/send?key=…``; the key is the credential."""

    type: Literal["wecom_robot"]
    webhook_key: SecretStr = SecretStr("")
    url: SecretStr = SecretStr("")  # or the whole webhook URL as the console shows it
    api_base: str = "https://qyapi.weixin.qq.com"
    mentioned_list: list[str] = Field(default_factory=list)  # user ids or "@all" (text messages)
    format: Literal["markdown", "text"] = "markdown"


class DingtalkRobotReceiver(_WithApiBase):
    """A DingTalk custom group robot with 加签 (signing) on."""

    type: Literal["dingtalk_robot"]
    access_token: SecretStr = SecretStr("")
    secret: SecretStr = SecretStr("")  # starts with "SEC"
    api_base: str = "https://oapi.dingtalk.com"
    at_mobiles: list[str] = Field(default_factory=list)


class FeishuBotReceiver(_Receiver):
    """A Feishu custom bot with 签名校验 on: the webhook URL and its secret."""

    type: Literal["feishu_bot"]
    webhook: SecretStr = SecretStr("")  # https://open.feishu.cn/open-apis/bot/v2/hook/<token>
    secret: SecretStr = SecretStr("")


class WecomAppReceiver(_Receiver):
    """Button cards from the configured WeCom app (channels.wecom) to members by user id."""

    type: Literal["wecom_app"]
    app: str = "default"
    users: list[str] = Field(default_factory=list)


class DingtalkAppReceiver(_Receiver):
    """Messages from the DingTalk app robot (channels.dingtalk) to staff ids or one group."""

    type: Literal["dingtalk_app"]
    app: str = "default"
    users: list[str] = Field(default_factory=list)
    open_conversation_id: str = ""


class FeishuAppReceiver(_Receiver):
    """Interactive cards from the Feishu app (channels.feishu) to a chat or to users."""

    type: Literal["feishu_app"]
    app: str = "default"
    chat_id: str = ""
    open_ids: list[str] = Field(default_factory=list)


Receiver = Annotated[
    WecomRobotReceiver
    | DingtalkRobotReceiver
    | FeishuBotReceiver
    | WecomAppReceiver
    | DingtalkAppReceiver
    | FeishuAppReceiver,
    Field(discriminator="type"),
]


class RouteMatch(StrictModel):
    """Every given label must match (one value or any of a list); severity is a minimum."""

    channel: str | list[str] | None = None
    app: str | list[str] | None = None
    shop: str | list[str] | None = None
    category: str | list[str] | None = None
    team: str | list[str] | None = None
    kind: str | list[str] | None = None
    audience: str | list[str] | None = None  # "team", or "managers" (escalations, weekly review)
    intent: str | list[str] | None = None  # risk and hand-over alerts: the intent of the message
    severity: Literal["info", "warning", "critical"] | None = None


class Route(StrictModel):
    match: RouteMatch = Field(default_factory=RouteMatch)
    receivers: list[str] = Field(min_length=1)
    # Go on to the next routes after a match (Alertmanager's ``continue``).
    continue_: bool = Field(default=False, alias="continue")


class Severity(StrictModel):
    """Risk score thresholds: below ``warning`` an alert is info."""

    warning: float = Field(default=0.6, ge=0, le=1)
    critical: float = Field(default=0.85, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Severity:
        if self.critical < self.warning:
            raise ValueError("severity.critical must not be below severity.warning")
        return self


class RateLimit(StrictModel):
    per_minute: float = Field(gt=0)
    burst: int = Field(default=1, ge=1)


def _default_rates() -> dict[str, RateLimit]:
    # The platforms' own limits (docs/protocols.md): over them the robot is blocked for a while.
    return {
        "wecom_robot": RateLimit(per_minute=20, burst=1),
        "dingtalk_robot": RateLimit(per_minute=20, burst=1),
        "feishu_bot": RateLimit(per_minute=100, burst=5),
    }


class AlertsSettings(StrictModel):
    receivers: dict[str, Receiver] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    default_receivers: list[str] = Field(default_factory=list)
    # The first alert of a group waits this long to gather the rest of a burst into one message.
    group_wait_seconds: float = Field(default=30, ge=0, le=3600)
    # The same customer and reason is not alerted again within this interval.
    repeat_interval_seconds: float = Field(default=4 * 3600, ge=0)
    severity: Severity = Field(default_factory=Severity)
    rate_limits: dict[str, RateLimit] = Field(default_factory=_default_rates)
    # shop label of a channel's app: {"wecom/default": "旗舰店"} or {"default": "旗舰店"}
    shops: dict[str, str] = Field(default_factory=dict)
    # Chat users allowed to use ``/silence`` ("channel:sender_id" or a bare sender id).
    silencers: list[str] = Field(default_factory=list)
    recent_messages: int = Field(default=5, ge=0, le=20)  # customer messages shown in an alert
    keep_recent_alerts: int = Field(default=500, ge=1)  # the record ``kefu alerts recent`` shows

    @field_validator("receivers")
    @classmethod
    def _names(cls, value: dict[str, object]) -> dict[str, object]:
        for name in value:
            if not name or any(c in name for c in " |:/"):
                raise ValueError(f"receiver name {name!r} must be non-empty without spaces, '|', ':' or '/'")
        return value

    @model_validator(mode="after")
    def _known_receivers(self) -> AlertsSettings:
        for where, names in [("default_receivers", self.default_receivers)] + [
            (f"routes.{i}.receivers", r.receivers) for i, r in enumerate(self.routes)
        ]:
            unknown = [n for n in names if n not in self.receivers]
            if unknown:
                raise ValueError(
                    f"{where}: unknown receiver(s) {', '.join(unknown)} (define them under alerts.receivers)"
                )
        return self


class TeamSettings(StrictModel):
    categories: list[str] = Field(default_factory=list)  # knowledge-base categories this team owns
    labels: dict[str, str] = Field(default_factory=dict)  # extra routing labels for notifications
    receivers: list[str] = Field(default_factory=list)  # receiver names, passed on as a label
