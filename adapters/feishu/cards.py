"""Render the platform-neutral card as a Feishu message card (JSON 1.0 schema).

Neutral shape: ``{"title", "description", "fields": [[label, value]], "buttons": [{"text", "key",
"style", "value"}], "template"}``. Text goes in as ``plain_text``: card content often quotes what a
customer wrote, and ``lark_md`` would let that text @everyone or inject links.
"""

from __future__ import annotations

from typing import Any

_TEMPLATES = {"red", "orange", "blue", "green"}
_BUTTON_TYPES = {"primary", "danger", "default"}


def render_card(card: dict[str, Any]) -> dict[str, Any]:
    elements: list[dict[str, Any]] = []
    if card.get("description"):
        elements.append({"tag": "div", "text": _plain(card["description"])})
    fields = [{"is_short": True, "text": _plain(f"{label}：{value}")} for label, value in card.get("fields") or []]
    if fields:
        elements.append({"tag": "div", "fields": fields})
    buttons = [_button(b) for b in card.get("buttons") or []]
    if buttons:
        elements.append({"tag": "action", "actions": buttons})
    template = card.get("template")
    return {
        # update_multi: the card answer to a click updates it for everyone who sees it.
        "config": {"wide_screen_mode": True, "update_multi": True},
        "header": {"title": _plain(card.get("title", "")), "template": template if template in _TEMPLATES else "blue"},
        "elements": elements,
    }


def _button(button: dict[str, Any]) -> dict[str, Any]:
    style = button.get("style", "default")
    # The click callback carries only ``value``: put the button's key in it so the handler knows.
    return {
        "tag": "button",
        "text": _plain(button.get("text", "")),
        "type": style if style in _BUTTON_TYPES else "default",
        "value": {**(button.get("value") or {}), "key": button.get("key", "")},
    }


def _plain(text: object) -> dict[str, str]:
    return {"tag": "plain_text", "content": str(text)}
