"""Text normalisation for short customer messages.

Customers type on phones: full-width letters, traditional characters, emoji, order numbers and
phone numbers. The model should see none of that variation, and no personal number should reach
the model or a log. ``normalize`` is on the hot path of every prediction, so it uses precompiled
regexes and a ``str.translate`` table rather than a general converter.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import opencc

MAX_TEXT_CHARS = 500  # customers' questions are short; longer text is cut before any work

# Placeholders are ASCII words so that the tokeniser keeps each as one token.
PHONE = "xphonex"
ORDER_NO = "xordernox"
AMOUNT = "xamountx"
URL = "xurlx"

# Product and shop links, pasted with a question ("https://item.taobao.com/item.htm?id=6238127312
# 这个有货吗"): masked first, so that a product id is not taken for the customer's order number
# and the link's words do not reach the model. A link ends at a space or at Chinese text.
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
# Order numbers: a long digit run, or letters followed by a long digit run (JD20261128...).
_ORDER_RE = re.compile(r"(?<![0-9a-z])(?:[a-z]{1,4})?\d{8,}(?![0-9])")
_AMOUNT_RE = re.compile(r"(?:[¥￥$]\s*\d+(?:\.\d+)?|\d+(?:\.\d+)?\s*(?:元|块钱|块|rmb))")
# Emoji that stand for words, Unicode and WeChat's own (sent as "[强]", its thumbs-up): read as
# the words, so that "👍" closes a turn as "好的" does rather than as an empty message. WeChat's
# other faces ("[微笑]", "[发怒]") go like other emoji; angry ones are the risk rules' own, read on
# the raw text (config/risk_words.yaml, angry_emoji).
_EMOJI_WORDS = {
    "好的": ("👌", "👍", "🆗", "✅", "[ok]", "[强]", "[好的]", "[握手]"),
    "谢谢": ("🙏", "🌹", "[抱拳]", "[谢谢]", "[玫瑰]", "[合十]"),
    "不好": ("👎", "[弱]"),
}
_EMOJI_WORD = {emoji: word for word, all_emoji in _EMOJI_WORDS.items() for emoji in all_emoji}
_WECHAT_FACE = r"\[[\u4e00-\u9fff]{1,4}\]"
_EMOJI_RE = re.compile("|".join([*(re.escape(e) for e in sorted(_EMOJI_WORD, key=len, reverse=True)), _WECHAT_FACE]))
# Anything that is not a letter, digit, CJK character or placeholder: punctuation, emoji, symbols.
_NOISE_RE = re.compile(r"[^\w\u3400-\u9fff]+|_+")
_SPACES_RE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Traditional -> simplified, character by character, from OpenCC's own dictionary."""
    path = os.path.join(os.path.dirname(opencc.__file__), "dictionary", "TSCharacters.txt")
    table: dict[int, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            trad, _, simp = line.rstrip("\n").partition("\t")
            if len(trad) == 1 and simp:
                table[ord(trad)] = simp.split(" ")[0]
    return table


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text plus what was masked out of it (kept for dialogue state, never logged)."""

    text: str
    order_numbers: tuple[str, ...] = field(default=())
    has_phone: bool = False
    amounts: tuple[str, ...] = field(default=())


def to_simplified(text: str) -> str:
    return text.translate(_t2s_table())


def normalize(text: str) -> Normalized:
    """Width, case, script, masking and noise removal, in that order (masking needs ASCII digits)."""
    text = unicodedata.normalize("NFKC", text[:MAX_TEXT_CHARS]).lower()
    text = to_simplified(text)
    text = _EMOJI_RE.sub(lambda m: f" {_EMOJI_WORD.get(m.group(), '')} ", text)
    text = _URL_RE.sub(f" {URL} ", text)
    has_phone = bool(_PHONE_RE.search(text))
    if has_phone:
        text = _PHONE_RE.sub(f" {PHONE} ", text)
    orders = tuple(_ORDER_RE.findall(text))
    if orders:
        text = _ORDER_RE.sub(f" {ORDER_NO} ", text)
    amounts = tuple(_AMOUNT_RE.findall(text))
    if amounts:
        text = _AMOUNT_RE.sub(f" {AMOUNT} ", text)
    text = _SPACES_RE.sub(" ", _NOISE_RE.sub(" ", text)).strip()
    return Normalized(text=text, order_numbers=orders, has_phone=has_phone, amounts=amounts)


# As customers paste them: "订单号：DD202406080003", "2024 1128 1234 5678", "dd-20240608-0003".
_PASTED_ORDER_RE = re.compile(r"(?<![0-9a-z])((?:[a-z]{1,4}[ -]?)?\d{2,}(?:[ -]\d{2,})*)(?![0-9a-z])")


def order_numbers(text: str) -> list[str]:
    """Order numbers in a message, separators dropped and letters upper-cased (the shop's form):
    letters plus digits or a digit run of at least 8 digits; phone numbers and links are not."""
    text = unicodedata.normalize("NFKC", text[:MAX_TEXT_CHARS]).lower()
    text = _PHONE_RE.sub(" ", _URL_RE.sub(" ", text))
    found = []
    for m in _PASTED_ORDER_RE.finditer(text):
        compact = re.sub(r"[ -]", "", m.group(1))
        if sum(c.isdigit() for c in compact) >= 8:
            found.append(compact.upper())
    return found


def mask_id(value: str) -> str:
    """A customer id as staff see it: ``ab***yz`` (enough to tell customers apart, not to copy).
    The one masking of ids: alerts, tickets and silences show and match the same form."""
    if len(value) <= 4:
        return value[:1] + "***"
    return f"{value[:2]}***{value[-2:]}"


def mask_customer(customer_key: str, name: str = "") -> str:
    """A customer as staff see them everywhere (alerts, tickets, ``kefu tickets``, silences):
    ``wecom_kf:wm1234abcd`` -> ``wecom_kf:wm***cd``; a name keeps its first character
    (``张** (wecom_kf:wm***cd)``). The raw key never goes to a work chat."""
    prefix, _, ident = customer_key.rpartition(":")
    masked = f"{prefix}:{mask_id(ident)}" if prefix else mask_id(ident)
    if name:
        masked = f"{name[0]}{'*' * min(len(name) - 1, 2) or '*'} ({masked})"
    return masked


# Chinese street addresses: the province, city and district stay (they say where a parcel is),
# the road and number, the estate, building, unit and room go. An address detail starts at a
# road with its number ("科技园路18号", "人民南路四段27号") or at an estate or village with a
# building or group number ("阳光花园5栋", "李村3组"); names never take administrative or
# sentence characters, so "南山区" and "快件已送达" stay outside the mask.
_NAME = r"(?:(?![省市区县镇乡已到达在于往至的被由从件])[\u4e00-\u9fff0-9A-Za-z]){1,12}?"
_ROAD = _NAME + r"(?:大道|路|街|道|巷|弄|胡同)(?:[一二三四五六七八九十]+段)?\s*\d+(?:-\d+)?\s*[号弄]"
_ESTATE = _NAME + r"(?:小区|花园|公寓|家园|新村|社区|大厦|苑|村)\s*\d+\s*(?:栋|幢|座|号楼|单元|组|号)"
_BUILDING = r"[\u4e00-\u9fff]{1,8}?(?:小区|花园|公寓|大厦|广场|中心|苑|家园|新村|大楼|城)(?=[0-9A-Za-z])"
_ADDRESS_RE = re.compile(rf"(?:{_ROAD}|{_ESTATE})(?:[0-9A-Za-z#-]|[栋幢座楼单元层室号户组]|{_BUILDING})*")
# Every detail ends in a number and its word ("18号", "5 栋"): "运单号" and "订单号" do not.
_ADDRESS_NUMBER_RE = re.compile(r"\d\s*[号弄栋幢座组单]")
ADDRESS_MASK = "***"


def mask_address(text: str) -> str:
    """``广东省深圳市南山区科技园路18号3栋502`` -> ``广东省深圳市南山区***``."""
    if not _ADDRESS_NUMBER_RE.search(text):  # most texts, order answers included, stop here
        return text
    return _ADDRESS_RE.sub(ADDRESS_MASK, text)


def mask_for_log(text: str) -> str:
    """Phone numbers hidden but for the last four digits, street addresses down to the district:
    safe to log, show in an alert or say in a reply."""
    return mask_address(_PHONE_RE.sub(lambda m: "1**-****-" + re.sub(r"\D", "", m.group())[-4:], text))
