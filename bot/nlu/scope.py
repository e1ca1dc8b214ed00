"""Out-of-scope examples: questions a shop's customer service does not answer.

A plain text file, one question per line, ``#`` comments and blank lines ignored (the shipped one
is ``config/out_of_scope.txt``). The intent model learns them as one more intent, ``out_of_scope``,
so that "一加一等于几" is told from the shop's questions by what it is like rather than only by
every shop intent scoring low; ``bot.nlu.decide`` then neither answers nor clarifies it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bot.nlu.decide import OUT_OF_SCOPE
from bot.nlu.knowledge import KnowledgeBaseError

__all__ = ["OUT_OF_SCOPE", "examples_digest", "load_out_of_scope"]


def load_out_of_scope(path: str | Path) -> list[str]:
    """The example lines; a file that cannot be read is a configuration error naming it."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise KnowledgeBaseError(f"{path}: out-of-scope examples file not found (nlu.out_of_scope_examples)") from None
    except UnicodeDecodeError:
        raise KnowledgeBaseError(f"{path}: not UTF-8 text (save the out-of-scope examples as UTF-8)") from None
    except OSError as e:
        raise KnowledgeBaseError(f"{path}: cannot read the out-of-scope examples ({e.strerror})") from None
    lines = [line.strip() for line in raw.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def examples_digest(path: str | Path | None) -> str:
    """What a model learnt as out of scope, to retrain it when the file changes; "" for none."""
    if path is None:
        return ""
    return hashlib.sha256("\n".join(load_out_of_scope(path)).encode("utf-8")).hexdigest()
