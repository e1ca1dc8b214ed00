"""The per-customer contact log in Redis.

Keys of one person share a hash tag (``kefu:{c:<person>}:...``):
- ``contact:session`` hash: the current contact's id and the time of the person's last message;
- ``contacts`` hash: contact id -> JSON ``{id, at, last, channel, channels, intents, excerpt, messages}``;
- ``contacts:at`` sorted set: contact ids by start time (trimmed past the longest rule window);
- ``contact:msgs`` sorted set: the messages counted, by time, over the same window, so that a
  redelivered message counts once; each member is the message id after ``n`` when it started a
  contact, ``o`` when not. One small set per person, not a key per message: a key per message
  held most of Redis's memory under load (docs/benchmarks.md#memory). Such a key left by a
  version before the set (``contact:msg:<message id>``: ``new`` or ``old``) still counts until it
  expires, so that a message redelivered across an upgrade is not counted twice.

Recording is one Lua script, so two workers handling one person's messages on two linked
channels at the same moment still make one contact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.redis_scripts import LuaScript

_RECORD = """
local session, contacts, by_time, counted_msgs, old_mark = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, gap, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local channel, intent, excerpt, cid, message = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
-- a new contact is when rules may fire: the reply carries the start times they look at
local function with_starts(reply)
  local starts = redis.call('ZRANGEBYSCORE', by_time, '(' .. (now - keep), '+inf', 'WITHSCORES')
  for i = 2, #starts, 2 do table.insert(reply, starts[i]) end
  return reply
end
redis.call('ZREMRANGEBYSCORE', counted_msgs, '-inf', '(' .. (now - keep))
local old = redis.call('GET', old_mark)  -- a version before the set: 'new' or 'old'
local started = redis.call('ZSCORE', counted_msgs, 'n' .. message) or old == 'new'
if started or old or redis.call('ZSCORE', counted_msgs, 'o' .. message) then
  -- A redelivery: counted once already. If it started a contact, the rules are checked again,
  -- because the process that counted it may have died before it acted on them.
  local reply = {-1, redis.call('HGET', session, 'id') or ''}
  if started then return with_starts(reply) end
  return reply
end
local last = tonumber(redis.call('HGET', session, 'last'))
local current = redis.call('HGET', session, 'id')
local new = 0
local rec
if (not current) or (not last) or (now - last > gap) or (redis.call('HEXISTS', contacts, current) == 0) then
  new = 1
  current = cid
  rec = {id = cid, at = now, last = now, channel = channel, channels = {channel}, intents = {},
         excerpt = excerpt, messages = 0}
  redis.call('ZADD', by_time, now, cid)
else
  rec = cjson.decode(redis.call('HGET', contacts, current))
  if type(rec.channels) ~= 'table' or next(rec.channels) == nil then rec.channels = {rec.channel} end
  if type(rec.intents) ~= 'table' or next(rec.intents) == nil then rec.intents = {} end
  local known = false
  for _, c in ipairs(rec.channels) do if c == channel then known = true end end
  if not known then table.insert(rec.channels, channel) end
  if now > rec.last then rec.last = now end
  if rec.excerpt == '' then rec.excerpt = excerpt end
end
if intent ~= '' then
  local known = false
  for _, i in ipairs(rec.intents) do if i == intent then known = true end end
  if not known then table.insert(rec.intents, intent) end
end
rec.messages = rec.messages + 1
redis.call('HSET', contacts, current, cjson.encode(rec))
if (not last) or now > last then redis.call('HSET', session, 'last', now) end
redis.call('HSET', session, 'id', current)
-- forget contacts older than the longest rule window
local old = redis.call('ZRANGEBYSCORE', by_time, '-inf', '(' .. (now - keep))
for _, id in ipairs(old) do redis.call('HDEL', contacts, id) end
if #old > 0 then redis.call('ZREMRANGEBYSCORE', by_time, '-inf', '(' .. (now - keep)) end
redis.call('ZADD', counted_msgs, math.floor(now), (new == 1 and 'n' or 'o') .. message)  -- whole seconds pack tighter
for _, k in ipairs({session, contacts, by_time, counted_msgs}) do redis.call('EXPIRE', k, keep) end
if new == 1 then return with_starts({new, current}) end
return {new, current}
"""


@dataclass(slots=True)
class Contact:
    id: str
    at: float
    last: float
    channel: str
    channels: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    excerpt: str = ""
    messages: int = 0

    @classmethod
    def from_json(cls, raw: str | bytes) -> Contact:
        d: dict[str, Any] = json.loads(raw)
        # Lua's cjson writes an empty list as {}.
        as_list = lambda v: list(v) if isinstance(v, list) else []  # noqa: E731
        return cls(
            id=str(d["id"]), at=float(d["at"]), last=float(d.get("last", d["at"])), channel=str(d["channel"]),
            channels=as_list(d.get("channels")), intents=as_list(d.get("intents")),
            excerpt=str(d.get("excerpt", "")), messages=int(d.get("messages", 0)),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "at": self.at, "last": self.last, "channel": self.channel,
            "channels": list(self.channels), "intents": list(self.intents), "excerpt": self.excerpt,
            "messages": self.messages,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Recorded:
    new_contact: bool  # this message started a contact
    duplicate: bool  # this message was counted before (a redelivery)
    contact_id: str
    # When each kept contact started, given when the rules are to be checked: for a new contact,
    # and for a redelivery of the message that started one.
    starts: tuple[float, ...] = ()


class ContactStore:
    def __init__(self, redis: Any, keys: Any) -> None:
        self._redis = redis
        self._keys = keys
        self._script = LuaScript(redis, _RECORD)

    def _k(self, person: str, what: str) -> str:
        return self._keys.customer(person, what)

    def record_keys(self, person: str, message_id: str) -> list[str]:
        """The keys ``record``'s script uses: the person's, in one cluster slot (the last, the
        message's marker from a version before the set of counted messages, is only read)."""
        return [
            self._k(person, "contact:session"), self._k(person, "contacts"), self._k(person, "contacts:at"),
            self._k(person, "contact:msgs"), self._k(person, f"contact:msg:{message_id}"),
        ]  # fmt: skip

    async def record(
        self, person: str, *, now: float, gap_seconds: float, keep_seconds: float, channel: str,
        intent: str | None, excerpt: str, message_id: str,
    ) -> Recorded:  # fmt: skip
        keys = self.record_keys(person, message_id)
        contact_id = f"{int(now * 1000)}-{message_id}"[:120]
        args = [
            repr(float(now)),
            repr(float(gap_seconds)),
            int(keep_seconds) + 1,
            channel,
            intent or "",
            excerpt,
            contact_id,
            message_id,
        ]
        new, current, *starts = await self._script(keys=keys, args=args)
        current = current.decode() if isinstance(current, bytes) else str(current)
        return Recorded(
            new_contact=int(new) == 1, duplicate=int(new) == -1, contact_id=current,
            starts=tuple(float(at) for at in starts),
        )  # fmt: skip

    async def contacts(self, person: str, since: float = float("-inf")) -> list[Contact]:
        """The person's contacts that started after ``since``, oldest first."""
        ids = await self._redis.zrangebyscore(
            self._k(person, "contacts:at"), f"({since}" if since != float("-inf") else "-inf", "+inf"
        )
        if not ids:
            return []
        raws = await self._redis.hmget(self._k(person, "contacts"), ids)
        return [Contact.from_json(r) for r in raws if r]
