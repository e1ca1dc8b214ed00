"""The knowledge base each channel app answers from, read from its YAML file: the intents' titles
and examples for the dashboard and ``kefu insights``. Reading the file needs no model, so an HTTP
process beside worker processes (which holds none) shows the same suggestions as a worker. Apps
are matched as the pipeline matches them: ``<channel>/<app>``, then ``<app>`` in
``knowledge_bases``, else the default knowledge base.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from alerts.insights.figures import TurnRow, unanswered_texts
from bot.nlu.knowledge import KnowledgeBase, KnowledgeBaseError, load_knowledge_base

if TYPE_CHECKING:
    from alerts.insights.grouping import Group

log = logging.getLogger(__name__)


class KnowledgeBases:
    """The default knowledge base and the apps' own, each read again when its file changes."""

    def __init__(self, default: Path, by_app: Mapping[str, Path]) -> None:
        self.default = default
        self.by_app = dict(by_app)
        self._read: dict[Path, tuple[tuple[int, int], KnowledgeBase | None]] = {}

    def path_of(self, channel: str, app: str) -> Path:
        """The file the app answers from."""
        if not self.by_app:
            return self.default
        return self.by_app.get(f"{channel}/{app}") or self.by_app.get(app) or self.default

    def get(self, path: Path) -> KnowledgeBase | None:
        """The file's knowledge base; None while it does not load (a page without suggestions
        rather than no page: ``kefu check-config`` names the error)."""
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = (0, 0)
        cached = self._read.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            kb: KnowledgeBase | None = load_knowledge_base(path)
        except KnowledgeBaseError as e:
            log.warning("no intent suggestions from a knowledge base: %s", e)
            kb = None
        self._read[path] = (stamp, kb)
        return kb

    def title_of(self, rows: Sequence[TurnRow]) -> Callable[[str], str]:
        """An intent's title in the knowledge bases these turns' apps answer from (the first that
        has the intent, the default one last); the intent's name when none has it."""
        paths = dict.fromkeys([*(self.path_of(r.channel, r.app) for r in rows), self.default])
        loaded = [kb for kb in (self.get(p) for p in paths) if kb is not None]

        def title(intent: str) -> str:
            found = next((kb.intents[intent] for kb in loaded if intent in kb.intents), None)
            return (found.title if found else "") or intent

        return title


def unanswered_groups(
    rows: Sequence[TurnRow], start: float, end: float, knowledge: KnowledgeBases
) -> list[tuple[Group, str | None]]:
    """The unanswered texts of ``rows`` in [start, end) grouped by need, largest first, each with
    the title of its suggested intent. The texts of apps answering from different knowledge bases
    are grouped apart and compared with their own knowledge base's intents only: a suggestion is
    an intent that knowledge base could take the texts in."""
    from alerts.insights.grouping import group_texts  # numpy, SciPy, scikit-learn: with the first grouping

    by_file: dict[Path, list[TurnRow]] = {}
    for r in rows:
        by_file.setdefault(knowledge.path_of(r.channel, r.app), []).append(r)
    out: list[tuple[Group, str | None]] = []
    for path, some in by_file.items():
        kb = knowledge.get(path)
        intents = {name: intent.examples for name, intent in kb.intents.items()} if kb else {}
        for group in group_texts(unanswered_texts(some, start, end), intents):
            found = kb.intents.get(group.suggested_intent) if kb and group.suggested_intent else None
            out.append((group, (found.title or found.name) if found else None))
    return sorted(out, key=lambda pair: (-pair[0].count, pair[0].examples[0]))
