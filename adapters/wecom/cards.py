"""WeCom template cards: our platform-neutral card as a ``button_interaction`` card, and the
passive ``update_button`` reply that greys out a clicked button.

The neutral card (``OutboundMessage.card``) this adapter accepts::

    {
        "title": "投诉风险提醒",                  # main title (required)
        "description": "客户连续三次催发货",       # optional, under the title
        "fields": [["客户", "wx_abc"], ["订单", "1234"]],   # up to 6 key/value rows
        "buttons": [{"text": "确认", "key": "ack:T1", "style": "primary"}],  # up to 6
        "task_id": "T1-alert",                  # optional; else derived from the idempotency key
    }

``style`` is "primary", "default" or "danger" (or WeCom's own 1-4). A click comes back as a
``template_card_event`` whose ``EventKey`` is the button's ``key``.
"""

from __future__ import annotations

from typing import Any

from adapters.wxbiz import platform_id

_STYLES = {"primary": 1, "default": 2, "danger": 3}
_MAX_ROWS = 6  # WeCom refuses more rows or buttons than this


def template_card(card: dict[str, Any], text: str, idempotency_key: str) -> dict[str, Any]:
    """The ``template_card`` object of a ``message/send`` call."""
    main_title = {"title": card.get("title", "")}
    if card.get("description"):
        main_title["desc"] = card["description"]
    rendered: dict[str, Any] = {
        "card_type": "button_interaction",
        "main_title": main_title,
        # WeCom wants a task_id unique per card; retries of one message must reuse it.
        "task_id": card.get("task_id") or platform_id(idempotency_key),
        "button_list": [
            {
                "text": b["text"],
                "key": b["key"],
                "style": _STYLES.get(b.get("style", "default"), b.get("style", 2)),
            }
            for b in card.get("buttons", [])[:_MAX_ROWS]
        ],
    }
    if text:
        rendered["sub_title_text"] = text
    rows = card.get("fields", [])[:_MAX_ROWS]
    if rows:
        rendered["horizontal_content_list"] = [{"keyname": str(k), "value": str(v)} for k, v in rows]
    return rendered


def update_button_reply(user_id: str, corp_id: str, replace_name: str, now: float) -> str:
    """The plaintext passive reply that turns the card's buttons into one greyed-out label."""
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{_cdata(user_id)}]]></ToUserName>"
        f"<FromUserName><![CDATA[{_cdata(corp_id)}]]></FromUserName>"
        f"<CreateTime>{int(now)}</CreateTime>"
        "<MsgType><![CDATA[update_button]]></MsgType>"
        f"<Button><ReplaceName><![CDATA[{_cdata(replace_name)}]]></ReplaceName></Button>"
        "</xml>"
    )


def _cdata(value: str) -> str:
    # "]]>" would end the CDATA section early; split it so the value stays one string.
    return value.replace("]]>", "]]]]><![CDATA[>")
