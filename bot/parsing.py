"""Defensive parsing of what arrives over HTTP, shared by the web channel and every adapter.

Whatever a request carries, before or after its signature passed (a signature proves who sent a
body, not that the body is sane), these helpers either return plain, bounded values or raise
``Malformed`` (a ``ValueError``) with a short reason the caller turns into its 400 or 403:

- ``timestamp_seconds``: a timestamp header or query parameter: ASCII digits, a bounded count,
  as a float of unix seconds (``int("9" * 400)`` overflows a float, ``int("1" * 5000)`` exceeds
  Python's digit limit, ``"²".isdigit()`` is true but ``int("²")`` fails);
- ``load_json``: a JSON document of bounded nesting whose strings encode (lone surrogates,
  which UTF-8, orjson and Redis refuse, become U+FFFD, so a platform's retry of the same body
  is accepted instead of failing again);
- ``require_utf8_prolog``: an XML document that declares no encoding other than UTF-8.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Millisecond timestamps have 13 digits; anything much longer is no timestamp of this era.
MAX_TIMESTAMP_DIGITS = 16
# Platform events nest a few levels; what is deeper than this is an attack, not a message, and
# would hit the recursion limit in whatever walks it next (str(), a JSON encoder).
MAX_JSON_DEPTH = 64

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_XML_ENCODING = re.compile(rb"""\A\s*<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']""")


class Malformed(ValueError):
    """Input that no parser behind this point can use; the message says why, without echoing it."""


def timestamp_seconds(text: str, units_per_second: int = 1) -> float:
    """A decimal timestamp (seconds, or ``units_per_second`` fractions of one) as unix seconds."""
    if not (0 < len(text) <= MAX_TIMESTAMP_DIGITS and text.isascii() and text.isdigit()):
        raise Malformed("timestamp is not a number")
    return int(text) / units_per_second


def load_json(raw: bytes | str) -> Any:
    """A request's JSON document; ``Malformed`` for anything else.

    orjson first (a fraction of the stdlib's cost on every callback); it refuses lone
    surrogates, which the stdlib parser keeps and this function then replaces."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        if not _SURROGATE_ESCAPE.search(data):
            raise Malformed("not JSON") from None
        try:
            # Strict UTF-8: raw surrogate bytes are invalid UTF-8 and refused; only escapes pass.
            value = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError):
            raise Malformed("not JSON") from None
        _check_depth(value)
        return _replace_surrogates(value)
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:  # cheap: only then walk the tree
        _check_depth(value)
    return value


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, so that it encodes as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise Malformed(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def _replace_surrogates(value: Any) -> Any:
    """A copy of a parsed document (depth already bounded) with its strings cleaned."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {clean_text(key): _replace_surrogates(item) for key, item in value.items()}
    return value


def require_utf8_prolog(raw: bytes | str) -> None:
    """Refuse an XML document whose prolog declares an encoding other than UTF-8: expat would
    hand it to an arbitrary Python codec (or fail with ``LookupError`` on an unknown one)."""
    data = raw if isinstance(raw, bytes) else raw[:200].encode("utf-8", "surrogatepass")
    match = _XML_ENCODING.match(data[:200])
    if match and match.group(1).strip().lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise Malformed("XML must be UTF-8")
