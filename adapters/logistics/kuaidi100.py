"""快递100's real-time tracking query (实时快递查询, ``POST /poll/query.do``).

Form fields ``customer``, ``param`` (JSON: ``com``, ``num``, ``phone``, ``resultv2``, ``order``)
and ``sign`` = upper-case hex MD5(param + key + customer). A success carries ``status "200"``,
``state`` and ``data`` (newest first with ``order: desc``); a failure ``result: false`` and a
``returnCode``. Each query may cost credit, so answers are cached for a minute and never retried.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import redis.asyncio as aredis
from pydantic import TypeAdapter, ValidationError
from yarl import URL

from adapters.logistics.carriers import PHONE_REQUIRED, carrier_of
from adapters.logistics.settings import LogisticsSettings
from adapters.lookup_http import DEFAULT_BREAKER, AnswerCache, Breaker, BreakerPolicy, guarded_call, ref
from bot.http import HttpClient
from bot.lookups import (
    CarrierUnknown,
    NotFound,
    NoTraceYet,
    Trace,
    Tracking,
    TrackState,
    Unavailable,
    in_china_time,
)
from bot.redis_store import Keys

log = logging.getLogger(__name__)

QUERY_PATH = "/poll/query.do"
TRACK_TTL = 60  # seconds


def kuaidi100_sign(param: str, key: str, customer: str) -> str:
    return hashlib.md5((param + key + customer).encode()).hexdigest().upper()


class _Bad(Exception):
    """Not an answer of 快递100's documented shapes; the message names fields, not values."""


@dataclass(frozen=True, slots=True)
class _Scan:
    time: datetime
    context: str


@dataclass(frozen=True, slots=True)
class _Success:
    state: str | int
    com: str = ""
    nu: str = ""
    data: tuple[_Scan, ...] = ()


_SUCCESS = TypeAdapter(_Success)


def parse_answer(body: bytes, company: str, waybill: str) -> Tracking:
    """A 快递100 answer as ``Tracking``, or the error its ``returnCode`` means."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise _Bad("not a JSON object")
    if str(data.get("status")) != "200":
        code = str(data.get("returnCode", ""))
        if code == "500":
            raise NoTraceYet()
        if code == "601":
            raise Unavailable("provider_credit", "快递100 account out of credit (601)")
        if code == "503":
            raise Unavailable("auth", "快递100 refused the signature (503)")
        if code in ("400", "501", "502"):
            raise Unavailable("provider_error", f"快递100 returnCode {code}")
        raise _Bad(f"neither a success nor a known returnCode ({code or 'none'})")
    try:
        answer = _SUCCESS.validate_python(data)
    except ValidationError as e:
        raise _Bad("; ".join(f"{'.'.join(map(str, err['loc']))}: {err['type']}" for err in e.errors()[:5])) from None
    traces = tuple(Trace(in_china_time(s.time), s.context) for s in answer.data)  # 快递100's carry no zone
    return Tracking(answer.com or company, answer.nu or waybill, TrackState.parse(answer.state), traces)


class Kuaidi100:
    """Tracking through 快递100; the company comes from the caller or the waybill's shape."""

    def __init__(
        self,
        settings: LogisticsSettings,
        http: HttpClient,
        redis: aredis.Redis,
        keys: Keys,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        breaker: BreakerPolicy = DEFAULT_BREAKER,
    ) -> None:
        self._url = URL(settings.api_base + QUERY_PATH, encoded=True)
        self._customer = settings.customer
        self._key = settings.key.get_secret_value()
        self._http = http
        self._keys = keys
        self._timeout = timeout
        self.breaker = Breaker("快递100", clock, breaker)
        self._cache = AnswerCache(redis, "快递100")

    async def track(self, waybill: str, company_code: str | None = None, phone_tail: str | None = None) -> Tracking:
        waybill = waybill.strip()
        company = company_code or carrier_of(waybill)
        if company is None:
            raise CarrierUnknown()
        phone = (phone_tail or "").strip() if company in PHONE_REQUIRED else ""
        # The phone is part of the key: an SF answer is only for whoever knows the phone.
        cache_key = self._keys.of("track", "kuaidi100", ref(f"{company}\n{waybill}\n{phone}"))
        if (cached := await self._cache.get(cache_key)) is not None:
            with contextlib.suppress(_Bad):  # stored by an older kefu that read it otherwise
                return parse_answer(cached, company, waybill)
        if not self.breaker.allow():
            raise Unavailable("circuit_open")
        name = f"快递100 query {company} waybill {ref(waybill)}"
        param = json.dumps(
            {"com": company, "num": waybill, "phone": phone, "resultv2": "1", "order": "desc"}, separators=(",", ":")
        )
        form = urlencode(
            {"customer": self._customer, "param": param, "sign": kuaidi100_sign(param, self._key, self._customer)}
        )
        try:
            response = await guarded_call(
                self._http, "POST", self._url, name=name, timeout=self._timeout, content=form.encode(),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )  # fmt: skip
            if response.status_code != 200:
                raise _Bad(f"HTTP {response.status_code}")
            tracking = parse_answer(response.content, company, waybill)
        except NotFound:
            self.breaker.record(True)
            log.info("%s: no trace yet (returnCode 500)", name)
            raise
        except Unavailable as e:
            self.breaker.record(False)
            if e.reason in ("provider_credit", "auth", "provider_error"):
                log.warning("%s: %s", name, e)
            raise
        except _Bad as e:
            self.breaker.record(False)
            log.warning("%s: bad response: %s", name, e)
            raise Unavailable("bad_response") from None
        self.breaker.record(True)
        await self._cache.put(cache_key, response.content, TRACK_TTL)
        return tracking
