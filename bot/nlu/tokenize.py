"""Tokenisation that suits short Chinese messages and still works for English.

Chinese has no spaces and word segmenters are unreliable on typo-laden chat, so Han text becomes
single characters plus character bigrams; fastText's word n-grams then add longer context.
Latin-script text (English, brand names, sizes) is split into words, which fastText's subword
features make robust to typos.
"""

from __future__ import annotations

import re

_RUN_RE = re.compile(r"[\u3400-\u9fff]+|[a-z0-9]+(?:'[a-z]+)?")
_HAN_RE = re.compile(r"[\u3400-\u9fff]")


def tokens(normalized_text: str) -> list[str]:
    """Tokens of text that has already been through ``normalize``."""
    out: list[str] = []
    for run in _RUN_RE.findall(normalized_text):
        if _HAN_RE.match(run):
            out.extend(run)
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.append(run)
    return out


def is_han_free(normalized_text: str) -> bool:
    return _HAN_RE.search(normalized_text) is None
