"""Answers from the shop's systems: find the customer's order, then say where it is and what next.

The pipeline asks ``OrderTalk`` two things: whether this message answers a question the bot asked
(an order number after "请发一下订单号", a pick from the offered orders), and, for an intent whose
knowledge-base entry has ``lookup:``, the answer built from the order, parcel, refund or product.
Every failure of the shop's systems ends in the intent's FAQ answer and an offer of a person; a
lookup never holds the customer's turn longer than the shop's timeout.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue import DialogueState, pick_suggestion
from bot.lookups import (
    CHINA_TIME,
    CarrierUnknown,
    LookupFailed,
    Lookups,
    NoLookups,
    NotFound,
    NotYours,
    Order,
    Product,
    TrackState,
    Unavailable,
    in_china_time,
)
from bot.metrics import LOOKUPS
from bot.nlu.knowledge import Intent
from bot.nlu.normalize import mask_for_log, order_numbers
from bot.settings import PACKAGE_CONFIG_DIR

log = logging.getLogger(__name__)

SHIPPED_ANSWERS = PACKAGE_CONFIG_DIR / "lookup_answers.yaml"
MAX_CHOICES = 3
MAX_LISTED = 5  # products listed for a question that names no size
MAX_RETRY_SEARCHES = 2  # product searches with fewer words when the whole query finds nothing
# Which of a customer's recent orders a question can be about.
_RELEVANT = {
    "parcel": {"paid", "shipped", "delivered"},
    "order": {"pending_payment", "paid", "shipped", "delivered", "refunding"},
    "refund": {"refunding", "refunded"},
}
_RELEVANT["shipping"] = _RELEVANT["order"]  # the same orders; which come first differs (_LIKELIEST)
_REFUND_STATUSES = _RELEVANT["refund"]  # an order in these is described by its refund, whatever was asked
# When a question names no item, the orders it is most likely about, if the customer has any: by
# its words ("签收了但没收到": the delivered ones), else by its kind ("催一下发货": the paid ones).
_STATUS_HINTS = (
    (re.compile(r"(?<![没未])签收"), {"delivered"}),
    (re.compile(r"没发|未发|催.{0,3}发"), {"paid"}),  # not "催一下快递": that parcel has left
)
_LIKELIEST = {"shipping": {"paid"}}
_NEXT = {
    TrackState.IN_TRANSIT: "next_in_transit",
    TrackState.PICKED_UP: "next_in_transit",
    TrackState.FORWARDED: "next_in_transit",
    TrackState.CUSTOMS: "next_in_transit",
    TrackState.OUT_FOR_DELIVERY: "next_out_for_delivery",
    TrackState.SIGNED: "next_signed",
    TrackState.PROBLEM: "next_problem",
    TrackState.REFUSED: "next_problem",
    TrackState.RETURNING: "next_problem",
}
# What is left of "AJ1 42码有货吗" once the question words go: the product's alias and size.
_STOCK_WORDS_RE = re.compile(
    r"有没有货|还有货吗|有货吗|有货没|有现货|现货|库存|还有吗|还有没有|还有|有没有|没有|没货|什么时候|补货|到货|缺货|请问|你好|您好"
    r"|能买到|能买|可以买|想买|要买|帮我|[查看]一?下|现在|这款|还|吗|呢|的|了|啊|呀|[?？,，。!！~～]"
)
_SIZE_NUMBER = r"\d{2}(?:\.5)?|(?<![a-z])(?:[2-5]?x{1,3}[ls]|[sml])"  # shoes 42, 42.5; clothes S to XXXL, 2XL
_SIZE_RE = re.compile(rf"({_SIZE_NUMBER})\s*(?:码|号)", re.IGNORECASE)
_NEWEST_RE = re.compile(r"最新|最近|刚(?:买|下)")
_OTHER_RE = re.compile(r"另(?:外)?(?:一|那)")  # "另一个呢", "另外那单"
_QUESTION_RE = re.compile(r"[吗?？]|怎么|什么|多久|几时|哪")
_LATIN_WORD_RE = re.compile(r"[a-z0-9]+")
_NON_LATIN_RUN_RE = re.compile(r"[^a-z0-9\s]+")
_HAS_LATIN_RE = re.compile(r"[A-Za-z]")
_SCRIPT_RUN_RE = re.compile(r"[A-Za-z0-9.\-]+|[^A-Za-z0-9.\-]+")  # "买AJ1" -> "买", "AJ1"
_BARE_SIZE_RE = re.compile(_SIZE_NUMBER, re.IGNORECASE)
_LEADING_THAT_RE = re.compile(r"^(?:那么|那个|那)")
# What a message that only gives an order number may say around it ("订单号是 DD…", "就是这个").
_AROUND_A_NUMBER_RE = re.compile(
    r"[a-z0-9\s]+|订单号码?|订单编号|运单号|单号|订单|号码|编号|就是|是|这个|我的|的|好的|嗯+|哦|呢|吧|啊|呀|[^\w]"
)


@dataclass(frozen=True, slots=True)
class LookupAnswers:
    """The shipped answer templates (config/lookup_answers.yaml) and their vocabularies."""

    templates: dict[str, str]
    status_zh: dict[str, str]
    refund_zh: dict[str, str]
    refund_eta: dict[str, str]
    ship_within_hours: float
    trace_stale_hours: float

    @classmethod
    def load(cls, path: Path = SHIPPED_ANSWERS) -> LookupAnswers:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            dict(data["templates"]), dict(data["status_zh"]), dict(data["refund_zh"]), dict(data["refund_eta"]),
            float(data.get("ship_within_hours", 48)), float(data.get("trace_stale_hours", 72)),
        )  # fmt: skip


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _when(value: datetime) -> str:
    value = in_china_time(value)
    return f"{value.month}月{value.day}日 {value:%H:%M}"


def _day(value: datetime) -> str:
    value = in_china_time(value)
    return f"{value.month}月{value.day}日"


def _items(order: Order) -> str:
    return "、".join(item.name for item in order.items) or "商品"


def _choice_line(n: int, order: Order) -> str:
    return f"{n}. {_items(order)} {_day(order.created_at)}"


class OrderTalk:
    def __init__(
        self, lookups: Lookups, timeout_seconds: float, clock: Callable[[], float],
        answers: LookupAnswers | None = None,
    ) -> None:  # fmt: skip
        self.lookups = lookups
        self.timeout = timeout_seconds
        self.clock = clock
        self.answers = answers or LookupAnswers.load()

    @property
    def enabled(self) -> bool:
        return not isinstance(self.lookups, NoLookups)

    def resume(self, state: DialogueState, text: str, normalized: str) -> tuple[str, str] | None:
        """``(intent, order_id)`` when this message answers the bot's own question: a number after
        it asked for one (a bare number is the answer, not a new question), or a pick from the
        offered orders by number, by recency ("最新那个"), by item words or, right after a pick, as
        "the other one" ("另一个呢"), in a reply that asks nothing itself; ``order_id`` is "" when the
        words fit several of them. Clears the question either way; a pick keeps the offered orders
        for the next message, which may pick another ("那第一个呢")."""
        waiting, intent = state.awaiting_order, state.awaiting_order or state.choices_intent
        choices, words = state.order_choices, state.order_choice_words
        state.awaiting_order, state.choices_intent, state.order_choices, state.order_choice_words = "", "", [], []
        if waiting and (numbers := order_numbers(text)):
            return waiting, numbers[-1]
        if not intent or not choices or _QUESTION_RE.search(normalized):  # "AJ1 42码有货吗": a new question
            return None
        picked = pick_suggestion(normalized, choices, {}) or (choices[0] if _NEWEST_RE.search(normalized) else None)
        others = [c for c in choices if c != state.order_no]
        if picked is None and _OTHER_RE.search(normalized) and len(others) == 1:
            picked = others[0]
        if picked is None:
            scores = _shared_pieces(normalized, words)
            best = max(scores, default=0)
            if not best:
                return None
            fitting = [c for c, score in zip(choices, scores, strict=True) if score == best]
            if len(fitting) > 1:  # several fitting the words ("熊猫"): "" offers those again, narrowed
                return intent, ""
            picked = fitting[0]
        state.choices_intent, state.order_choices, state.order_choice_words = intent, choices, words
        return intent, picked

    @staticmethod
    def asks_more_than_a_number(normalized: str) -> bool:
        """Whether a message with an order number also asks something ("DD2024… 到哪了"), rather
        than only giving the number ("订单号是 DD2024…")."""
        return bool(_AROUND_A_NUMBER_RE.sub("", normalized))

    @staticmethod
    def names_only_a_size(state: DialogueState, text: str) -> bool:
        """Whether the message only names a size ("那43码呢") while a product is being talked about."""
        words = _product_query(text).split()
        return bool(state.last_product and words) and _only_sizes(words)

    async def answer(
        self, intent: Intent, faq: str, customer: str, text: str, order_ids: Sequence[str], state: DialogueState
    ) -> str:
        """The answer for a ``lookup:`` intent, from the customer's own data, within the timeout;
        ``order_ids`` are the orders the message names (none: the customer's recent ones)."""
        kind = intent.lookup or ""
        templates = {**self.answers.templates, **dict(intent.lookup_answers)}
        fill = _Fields(faq=faq)
        try:
            async with asyncio.timeout(self.timeout):
                if kind == "stock":
                    return await self._stock(text, state, templates, fill)
                return await self._order(kind, intent.name, customer, text, order_ids, state, templates, fill)
        except TimeoutError:
            LOOKUPS.labels(kind, "timeout").inc()
            log.warning("lookup for intent %s: no answer within %.1f s", intent.name, self.timeout)
        except Unavailable as e:
            log.warning("lookup for intent %s unavailable: %s", intent.name, e.reason)
        except LookupFailed as e:  # an answer the contract does not allow here (a 404 for a list)
            log.warning("lookup for intent %s failed: %s", intent.name, type(e).__name__)
        return templates["unavailable"].format_map(fill)

    async def _order(
        self, kind: str, intent: str, customer: str, text: str, order_ids: Sequence[str], state: DialogueState,
        templates: dict[str, str], fill: _Fields,
    ) -> str:  # fmt: skip
        if order_ids:  # each named order, in turn ("DD… DD… 这两个订单怎么样了")
            numbers = list(dict.fromkeys(order_ids))[:MAX_CHOICES]
            found = [await self._own_order(number, customer) for number in numbers]
            orders = list({o.order_id: o for o in found if o is not None}.values())  # an order and its waybill: once
            if not orders:
                state.awaiting_order = intent
                return templates["not_found"].format_map(fill)
            state.order_no = orders[-1].order_id
            answers = [await self._describe(kind, o, templates, _Fields(fill)) for o in orders]
            missing = [
                f"{n}：" + templates["not_found"].format_map(fill)
                for n, o in zip(numbers, found, strict=True)
                if o is None
            ]
            return mask_for_log("\n\n".join(answers + missing))
        recent = await self.lookups.recent_orders(customer, 10)
        relevant = [o for o in recent if o.status in _RELEVANT.get(kind, _RELEVANT["order"])]
        named = _named(text, relevant)
        relevant = (_likeliest(kind, text, relevant) if len(named) == len(relevant) else named)[:MAX_CHOICES]
        if not relevant:
            state.awaiting_order = intent
            return templates["ask"].format_map(fill)
        if len(relevant) > 1:
            state.awaiting_order = intent
            state.order_choices = [o.order_id for o in relevant]
            state.order_choice_words = [_items(o) for o in relevant]
            fill["choices"] = "\n".join(_choice_line(n, o) for n, o in enumerate(relevant, 1))
            return templates["choose"].format_map(fill)
        order = relevant[0]
        state.order_no = order.order_id
        return mask_for_log(await self._describe(kind, order, templates, fill))

    async def _own_order(self, number: str, customer: str) -> Order | None:
        """The customer's order by its number, or by its parcel's waybill ("SF1234567890123 到哪了").
        A waybill is looked for among the customer's own recent orders only, so that it never shows
        another customer's parcel. None when the number is neither."""
        try:
            return await self.lookups.order(number, customer)
        except (NotFound, NotYours):  # the same words: say nothing about whose it is
            pass
        recent = await self.lookups.recent_orders(customer, 10)
        return next((o for o in recent if o.shipment and o.shipment.waybill.upper() == number), None)

    async def _describe(self, kind: str, order: Order, templates: dict[str, str], fill: _Fields) -> str:
        a = self.answers
        fill.update(order_id=order.order_id, items=_items(order), status=a.status_zh.get(order.status, order.status))
        if kind == "refund" or (order.refund is not None and order.status in _REFUND_STATUSES):
            if order.refund is None:
                return templates["no_refund"].format_map(fill)
            r = order.refund
            fill.update(
                refund_status=a.refund_zh.get(r.status, r.status), refund_amount=str(r.amount),
                refund_time=_when(r.updated_at), refund_eta=a.refund_eta.get(r.status, ""),
            )  # fmt: skip
            return templates["refund"].format_map(fill)
        if order.status == "pending_payment":
            return templates["pending_payment"].format_map(fill)
        if order.status == "paid" and order.shipment is None:
            promised = in_china_time(order.created_at) + timedelta(hours=a.ship_within_hours)
            late = datetime.fromtimestamp(self.clock(), CHINA_TIME) > promised
            fill.update(
                paid_at=_when(order.created_at), promised_at=_when(promised),
                late=templates["not_shipped_late" if late else "not_shipped_on_time"],
            )  # fmt: skip
            return templates["not_shipped"].format_map(fill)
        if order.shipment is None or order.status not in {"shipped", "delivered"}:
            return templates["status"].format_map(fill)
        s = order.shipment
        fill.update(company=s.company, waybill=s.waybill)
        try:
            tracking = await self.lookups.track(s.waybill, s.company_code, s.phone_tail)
        except (NotFound, CarrierUnknown):
            return templates["shipped_no_trace"].format_map(fill)
        if not tracking.traces:
            return templates["shipped_no_trace"].format_map(fill)
        latest = tracking.traces[0]
        next_step = _NEXT.get(tracking.state, "next_other")
        stale = datetime.fromtimestamp(self.clock(), CHINA_TIME) - in_china_time(latest.time)
        if tracking.state is not TrackState.SIGNED and stale > timedelta(hours=a.trace_stale_hours):
            next_step = "next_stalled"  # no scan for days: the courier must be asked, not waited for
            fill["stale_days"] = stale.days
        fill.update(
            trace=latest.context, trace_time=_when(latest.time), next_step=templates[next_step].format_map(fill)
        )
        return templates["shipped"].format_map(fill)

    async def _stock(self, text: str, state: DialogueState, templates: dict[str, str], fill: _Fields) -> str:
        query, products = await self._products(_with_last_product(_product_query(text), state.last_product))
        if not products:
            return templates["no_product"].format_map(fill)
        state.last_product = query
        if len(products) > 1 and not any(_SIZE_RE.fullmatch(w) for w in query.split()):
            # No size named ("AJ1什么时候补货"): each product the shop has, not the first it lists
            answers = [_stock_answer(p, fill) for p in products[:MAX_LISTED]]
            fill["stock_lines"] = "\n".join(templates["stock_line_" + name].format_map(f) for name, f in answers)
            return templates["stock_list"].format_map(fill)
        template, fields = _stock_answer(_best(products, query), fill)
        return templates[template].format_map(fields)

    async def _products(self, query: str) -> tuple[str, list[Product]]:
        """The products that fit every word of the query; when none do, those that fit one of its
        names with the size, model names first ("我想给儿子买AJ1 42码": "AJ1 42码"), at most
        ``MAX_RETRY_SEARCHES`` searches more. Returns the query that found them."""
        products = await self.lookups.products(query) if query else []
        sizes = [w for w in query.split() if _only_sizes([w])]
        runs = [r for w in query.split() if not _only_sizes([w]) for r in _SCRIPT_RUN_RE.findall(w)]
        names = sorted((r for r in runs if not r.isdigit()), key=lambda r: not _HAS_LATIN_RE.search(r))
        for name in names[:MAX_RETRY_SEARCHES] if not products and len(names) > 1 else []:
            narrower = " ".join([name, *sizes])
            if products := await self.lookups.products(narrower):
                return narrower, products
        return query, products


def _likeliest(kind: str, text: str, orders: list[Order]) -> list[Order]:
    """The orders a question that names no item is most likely about (``_STATUS_HINTS``,
    ``_LIKELIEST``), or all of them when none is."""
    statuses = next((s for pattern, s in _STATUS_HINTS if pattern.search(text)), _LIKELIEST.get(kind, set()))
    return [o for o in orders if o.status in statuses] or orders


def _named(text: str, orders: list[Order]) -> list[Order]:
    """The orders whose items the question names most ("我的dunk发货了吗"), or all of them when it
    names none."""
    scores = _shared_pieces(text, [_items(o) for o in orders])
    best = max(scores, default=0)
    return [o for o, score in zip(orders, scores, strict=True) if score == best] if best else orders


def _shared_pieces(text: str, names: list[str]) -> list[int]:
    """For each name, how many of the text's pieces it holds: two-character pieces of its Chinese
    ("熊猫那双"), and its Latin words whole, as a word's start or as the initials of the name's
    words ("dunk", "jor", "要AJ的" for "Air Jordan 1 …"). Latin is never cut into pieces: "order"
    would be found in "Jordan"."""
    lower = text.lower()
    pieces = {run[i : i + 2] for run in _NON_LATIN_RUN_RE.findall(lower) for i in range(len(run) - 1)}
    latin = set(_LATIN_WORD_RE.findall(lower))
    scores = []
    for name in names:
        name_lower = name.lower()
        words = _LATIN_WORD_RE.findall(name_lower)
        initials = "".join(w[0] for w in words)
        scores.append(
            sum(p in name_lower for p in pieces)
            + sum(any(w.startswith(x) for w in words) or (len(x) > 1 and x in initials) for x in latin)
        )
    return scores


def _product_query(text: str) -> str:
    """ "AJ1 42码有货吗" -> "AJ1 42码": the words that name the product and its size; "44的呢" -> "44码"."""
    rest = _SIZE_RE.sub(lambda m: f" {m.group(1)}码 ", _LEADING_THAT_RE.sub("", text.strip()))
    words = [w.removesuffix("有") for w in _STOCK_WORDS_RE.sub(" ", rest).split()]  # "AJ1有42码吗"
    rest = " ".join(w for w in words if w)
    return f"{rest}码" if _BARE_SIZE_RE.fullmatch(rest) else rest  # "44的呢": a size alone


def _with_last_product(query: str, last: str) -> str:
    """A follow-up that names no product ("那43码呢", "什么时候补货") is about the product asked
    before: its words, with the size the follow-up gives, else the size asked before."""
    if not last or not _only_sizes(query.split()):
        return query
    sizes = query.split() or [w for w in last.split() if _only_sizes([w])]
    return " ".join([w for w in last.split() if not _only_sizes([w])] + sizes)


def _only_sizes(words: list[str]) -> bool:
    """Whether every word is a size as ``_product_query`` writes it ("43码"); True for none."""
    return all(_SIZE_RE.fullmatch(w) for w in words)


def _stock_answer(product: Product, fill: _Fields) -> tuple[str, _Fields]:
    """Which template tells this product's stock (``in_stock``, ``restock``, ``no_restock_date``)
    and ``fill`` with its fields, in a copy."""
    fields = _Fields(fill, product=product.name, stock=product.stock)
    if product.stock > 0:
        return "in_stock", fields
    if product.restock_date:
        fields["restock_date"] = f"{product.restock_date.month}月{product.restock_date.day}日"
        return "restock", fields
    return "no_restock_date", fields


def _best(products: list[Product], query: str) -> Product:
    """The product the query names most closely: all its words in the name, else the first."""
    words = query.lower().split()
    return next((p for p in products if all(w in p.name.lower() for w in words)), products[0])
