"""Group robots that staff alerts are posted to by webhook: WeCom group robot, DingTalk custom
robot (signed), Feishu custom bot (signed). One module per platform; each sender turns an
``OutboundMessage`` into one webhook call and classifies the answer as delivered, worth a retry
(rate limits, 5xx, network) or permanent (bad key or signature, with the platform's own text).
Text over a platform's size limit is shortened, never refused.
"""

from collections.abc import Callable
from typing import Any

from adapters.robots.dingtalk_robot import DingtalkRobotSender
from adapters.robots.feishu_bot import FeishuBotSender
from adapters.robots.wecom_robot import WecomRobotSender
from bot.http import HttpClient
from bot.outbox import Sender

__all__ = ["DingtalkRobotSender", "FeishuBotSender", "WecomRobotSender", "create_sender"]


def create_sender(receiver: Any, http: HttpClient, clock: Callable[[], float]) -> Sender | None:
    """The sender for one configured robot receiver (alerts.notify.settings), or None for app types."""
    if receiver.type == "wecom_robot":
        return WecomRobotSender(
            http, webhook_key=receiver.webhook_key.get_secret_value(), url=receiver.url.get_secret_value(),
            api_base=receiver.api_base, mentioned_list=receiver.mentioned_list,
        )  # fmt: skip
    if receiver.type == "dingtalk_robot":
        return DingtalkRobotSender(
            http, access_token=receiver.access_token.get_secret_value(), secret=receiver.secret.get_secret_value(),
            api_base=receiver.api_base, at_mobiles=receiver.at_mobiles, clock=clock,
        )  # fmt: skip
    if receiver.type == "feishu_bot":
        return FeishuBotSender(
            http, webhook=receiver.webhook.get_secret_value(), secret=receiver.secret.get_secret_value(), clock=clock
        )
    return None
