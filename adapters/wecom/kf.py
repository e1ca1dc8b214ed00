"""微信客服 (WeCom kf): pulling customers' messages after a ``kf_msg_or_event`` and replying.

The callback carries no content, only a short-lived ``Token``; ``sync`` pulls with it, page by
page, from the cursor kept in Redis per open_kfid (saved after every page, so a crash re-pulls at
most one page, which the gateway's message-id dedupe absorbs).

Only one worker pulls an open_kfid at a time (a Redis lock). A worker that finds the lock taken
leaves its token in a "pending" key; the holder, after releasing, looks at that key and pulls
again, so messages announced while it was pulling are not left until the next event.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from adapters.wxbiz import ApiFailure, WxApi, card_as_text, platform_id
from bot.channel import Emit, TaskRetry
from bot.message import InboundMessage, OutboundMessage, SendResult
from bot.redis_store import Lease

log = logging.getLogger(__name__)

CHANNEL = "wecom_kf"
_ORIGIN_CUSTOMER = 3  # 4 = system event, 5 = a human servicer
_PAGE_LIMIT = 1000
_LOCK_SECONDS = 60
_PENDING_SECONDS = 600  # the callback's Token lives 10 minutes
_SERVICE_STATE_QUEUE = 2  # hand over: wait in the human servicers' queue

# Failures that no retry can fix, with what they mean for the person reading the dead letter.
_PERMANENT = {
    95018: "the 微信客服 session is not in a state that allows bot messages (a human has it, or it ended)",
    95001: "the 5-messages-within-48h limit for this customer is reached",
    95002: "48 h have passed since the customer's last message",
}

# Release the lock only if it is still ours (it may have expired and been taken by another).


class KfSyncFailed(TaskRetry):
    """The pull failed before it brought anything; the queue tries the task again later."""


class KfChannel:
    def __init__(self, app: str, api: WxApi, redis: Any, keys: Any) -> None:
        self._app = app
        self._api = api
        self._redis = redis
        self._keys = keys

    # -- receiving --------------------------------------------------------------------------
    async def sync(self, open_kfid: str, token: str, emit: Emit) -> None:
        lock_key = self._keys.of("kf_lock", self._app, open_kfid)
        pending_key = self._keys.of("kf_pending", self._app, open_kfid)
        await self._redis.set(pending_key, token, ex=_PENDING_SECONDS)
        pulled = 0
        while True:
            lock = Lease(self._redis, lock_key, uuid.uuid4().hex, _LOCK_SECONDS * 1000)
            if not await lock.hold():
                return  # the holder pulls for us once it sees the pending token
            pending = None
            try:
                pending = await self._redis.getdel(pending_key)
                if pending is not None:
                    pulled += await self._pull(open_kfid, pending.decode(), emit, partial_ok=pulled > 0)
            except KfSyncFailed:
                # Keep the token for the retry, unless a newer one arrived meanwhile.
                await self._redis.set(pending_key, pending or token, nx=True, ex=_PENDING_SECONDS)
                raise
            finally:
                await lock.release()
            # A token that arrived while we held the lock found it taken and was left to us.
            if not await self._redis.exists(pending_key):
                return

    async def _pull(self, open_kfid: str, token: str, emit: Emit, partial_ok: bool) -> int:
        """Pull every page from the saved cursor; returns how many pages were pulled."""
        cursor_key = self._keys.of("kf_cursor", self._app, open_kfid)
        cursor = (await self._redis.get(cursor_key) or b"").decode()
        pages = 0
        while True:
            try:
                page = await self._api.post(
                    "kf/sync_msg",
                    {
                        "cursor": cursor,
                        "token": token,
                        "limit": _PAGE_LIMIT,
                        "open_kfid": open_kfid,
                    },
                )
            except ApiFailure as failure:
                if pages or partial_ok:
                    # What we pulled is enqueued and its cursor saved; the rest comes next pull.
                    log.warning("kf sync of %s stopped early: %s", open_kfid, failure.result.error)
                    return pages
                raise KfSyncFailed(failure.result.error) from None
            # Enqueue the page before moving the cursor past it: a crash in between re-pulls it,
            # and the inbox drops the repeats by msgid.
            await emit([m for m in map(self._inbound, page.get("msg_list", [])) if m is not None])
            pages += 1
            cursor = page.get("next_cursor") or cursor
            await self._redis.set(cursor_key, cursor)
            if not page.get("has_more"):
                return pages

    def _inbound(self, item: dict[str, Any]) -> InboundMessage | None:
        if item.get("origin") != _ORIGIN_CUSTOMER:
            return None  # our own and the servicers' messages, and system events
        customer = item.get("external_userid", "")
        msg_type = item.get("msgtype", "")
        return InboundMessage(
            channel=CHANNEL,
            app=self._app,
            conversation_id=customer,
            sender_id=customer,
            text=item.get("text", {}).get("content", "") if msg_type == "text" else "",
            message_id=item.get("msgid", ""),
            sent_at=float(item.get("send_time", 0)),
            msg_type=msg_type,
            reply_route={"open_kfid": item.get("open_kfid", ""), "external_userid": customer},
        )

    # -- sending ----------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> SendResult:
        route = message.route
        target = {"open_kfid": route.get("open_kfid", ""), "external_userid": route.get("external_userid", "")}
        if not all(target.values()):
            return SendResult.permanent("wecom_kf: route needs open_kfid and external_userid")
        result = await self._call(
            "kf/send_msg",
            {
                "touser": target["external_userid"],
                "open_kfid": target["open_kfid"],
                # Same key on every retry, so the platform can refuse a second copy.
                "msgid": platform_id(message.idempotency_key),
                "msgtype": "text",
                "text": {"content": card_as_text(message.text, message.card)},
            },
        )
        if result.ok and message.handoff:
            result = await self._call("kf/service_state/trans", {**target, "service_state": _SERVICE_STATE_QUEUE})
        return result

    async def _call(self, path: str, payload: dict[str, Any]) -> SendResult:
        return await self._api.send(path, payload, _PERMANENT, accept=_is_duplicate_msgid)


def _is_duplicate_msgid(failure: ApiFailure) -> bool:
    # An earlier try got through and the outbox retried it: that counts as delivered.
    # Unverified: the docs name no errcode for a reused client msgid, so read the message.
    text = failure.errmsg.lower()
    return "msgid" in text and any(word in text for word in ("duplicate", "exist", "repeat"))
