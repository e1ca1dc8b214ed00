"""What one ``OutboundMessage`` looks like on DingTalk, for both delivery paths.

The sessionWebhook takes a robot message body (``msgtype`` text or markdown); the robot API takes
a template key and its parameters. Cards become markdown: the app robot has no interactive card
in HTTP mode, and staff act on tickets with text commands (PLATFORMS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.message import OutboundMessage

_TITLE_CHARS = 30  # the title is only the notification preview line


@dataclass(frozen=True, slots=True)
class Rendered:
    webhook_body: dict[str, Any]
    msg_key: str  # robot API template: "sampleText" or "sampleMarkdown"
    msg_param: dict[str, str]


def render(message: OutboundMessage) -> Rendered:
    if message.kind == "card" and message.card:
        title, text = str(message.card.get("title", "")), card_markdown(message.card)
    elif message.kind == "markdown":
        title, text = _first_line(message.text), message.text
    else:
        return Rendered({"msgtype": "text", "text": {"content": message.text}}, "sampleText", {"content": message.text})
    title = title[:_TITLE_CHARS] or "消息"
    return Rendered(
        {"msgtype": "markdown", "markdown": {"title": title, "text": text}},
        "sampleMarkdown",
        {"title": title, "text": text},
    )


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0].lstrip("# ") if stripped else ""


def card_markdown(card: dict[str, Any]) -> str:
    """The neutral card as markdown; buttons become the text commands that do the same thing."""
    lines = [f"### {card.get('title', '')}"]
    if card.get("description"):
        lines.append(str(card["description"]))
    lines += [f"- **{label}**：{value}" for label, value in card.get("fields", [])]
    buttons = card.get("buttons") or []
    if buttons:
        lines.append("回复以下指令操作：" + "　".join(f"「{b.get('key', '')}」{b.get('text', '')}" for b in buttons))
    return "\n\n".join(lines)
