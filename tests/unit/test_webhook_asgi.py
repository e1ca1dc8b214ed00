"""The webhook endpoint's own parsing, against the standard library it stands in for."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

from bot.runtime.webhook_asgi import parse_query


def test_query_parsing_is_parse_qsl() -> None:
    rng = random.Random(3)
    alphabet = "ab1=&%+2F;é "
    queries = ["", "&", "=", "a", "a=", "=b", "a=b=c", "a=1&a=2", "a=%E4%BD%A0&b=x+y", "msg_signature=ab&nonce=1"]
    queries += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(2000)]
    for query in queries:
        raw = query.encode()
        assert parse_query(raw) == dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)), query
