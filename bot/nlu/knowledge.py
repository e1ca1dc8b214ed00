"""The knowledge base: intents with answers and example questions, plus synonyms.

Read from the YAML schema documented in docs/configuration.md, or from a labelled CSV/TSV (``text,intent``)
for bulk training and evaluation. Every problem is reported with the file and the place.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.normalize import to_simplified

CATEGORIES = (
    "order", "logistics", "after_sales", "payment", "product", "promotion",
    "invoice", "complaint", "service", "chitchat",
)  # fmt: skip
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


LOOKUP_KINDS = ("order", "shipping", "parcel", "refund", "stock")
ORDER_LOOKUPS = frozenset(LOOKUP_KINDS) - {"stock"}  # the kinds answered from one of the customer's orders
WHERE_THE_ORDER_IS = frozenset({"order", "shipping", "parcel"})  # answered alike: paid, shipped, where


class KnowledgeBaseError(Exception):
    """A knowledge-base or labelled-data file that cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    category: str
    answer: str
    examples: tuple[str, ...]
    title: str  # how the intent is offered back in a clarifying question
    handoff: bool = False  # answering it means handing over to a human
    # What to look up in the shop's systems to answer with the customer's own data (``order``,
    # ``shipping``, ``parcel``, ``refund``, ``stock``), and answer templates overriding
    # config/lookup_answers.yaml.
    lookup: str | None = None
    lookup_answers: tuple[tuple[str, str], ...] = ()

    @property
    def tells_where_the_order_is(self) -> bool:
        """Whether its answer is where the customer's order is now, in the shared words: intents
        like this ("发货时间", "订单状态", "催发货") answer alike, so asking which one is needless."""
        return self.lookup in WHERE_THE_ORDER_IS and not self.lookup_answers


def _is_latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _alias_pattern(aliases: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any alias, the longest where several start at one place, as a trie:
    each character is tried once per position rather than once per alias, which made a long
    alternation the costliest step of preparing a message. An alias starting or ending with a
    Latin letter or digit matches only as a whole word there."""
    trie: dict[str, Any] = {}
    for alias in aliases:
        node = trie
        for char in alias:
            node = node.setdefault(char, {})
        node[""] = alias

    def pattern(node: dict[str, Any], first: bool) -> str:
        branches = []
        for char in sorted(c for c in node if c):
            start = r"(?<![a-z0-9])" if first and _is_latin(char) else ""
            branches.append(start + re.escape(char) + pattern(node[char], False))
        if "" in node:  # after the longer aliases through this node
            branches.append(r"(?![a-z0-9])" if _is_latin(node[""][-1]) else "")
        return branches[0] if len(branches) == 1 and "" not in node else "(?:" + "|".join(branches) + ")"

    return re.compile(pattern(trie, True))


@dataclass(frozen=True, slots=True)
class Synonyms:
    """Alias -> canonical replacements, the longest alias where several match, applied to normalised text.

    An alias that starts or ends with a Latin letter or digit only matches there as a whole
    word, so that ``order -> 订单`` leaves "border" alone while ``aj1 -> airjordan1`` still
    matches in "aj1有货么" (Han characters are not word characters for this purpose).
    """

    table: dict[str, str] = field(default_factory=dict)
    _pattern: re.Pattern[str] | None = None

    @classmethod
    def of(cls, table: dict[str, str]) -> Synonyms:
        if not table:
            return cls()
        return cls(table, _alias_pattern(table))

    def apply(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.table[m.group()], text)


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    intents: dict[str, Intent]
    synonyms: Synonyms
    digest: str  # sha256 of the source file: a model remembers which knowledge base it learnt

    def training_pairs(self) -> tuple[list[str], list[str]]:
        texts, labels = [], []
        for intent in self.intents.values():
            for example in intent.examples:
                texts.append(example)
                labels.append(intent.name)
        return texts, labels


def load_knowledge_base(path: Path) -> KnowledgeBase:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise KnowledgeBaseError(f"{path}: cannot read the knowledge base ({e.strerror})") from None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise KnowledgeBaseError(f"{path}: not valid UTF-8 YAML{at}: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise KnowledgeBaseError(f"{path}: nested too deeply to be a knowledge base") from None
    if not isinstance(data, dict) or not isinstance(data.get("intents"), list):
        raise KnowledgeBaseError(f"{path}: expected a mapping with an 'intents' list (see docs/configuration.md)")
    intents: dict[str, Intent] = {}
    for i, item in enumerate(data["intents"]):
        intent = parse_intent(item, f"{path}: intents[{i}]")
        if intent.name in intents:
            raise KnowledgeBaseError(f"{path}: intents[{i}]: duplicate intent name {intent.name!r}")
        intents[intent.name] = intent
    if len(intents) < 2:
        raise KnowledgeBaseError(f"{path}: at least two intents are needed to train a classifier")
    synonyms = data.get("synonyms") or {}
    if not isinstance(synonyms, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in synonyms.items()
    ):
        raise KnowledgeBaseError(f"{path}: 'synonyms' must map non-empty alias strings to non-empty strings")
    table = {to_simplified(k.lower()): v.lower() for k, v in synonyms.items()}
    return KnowledgeBase(intents, Synonyms.of(table), hashlib.sha256(raw).hexdigest())


def parse_intent(item: object, where: str) -> Intent:
    """One intent of the YAML schema, validated; errors start with ``where``."""
    if not isinstance(item, dict):
        raise KnowledgeBaseError(f"{where}: expected a mapping with name, category, answer, examples")
    unknown = set(item) - {"name", "category", "answer", "examples", "title", "handoff", "lookup", "lookup_answers"}
    if unknown:
        raise KnowledgeBaseError(f"{where}: unknown key(s) {sorted(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise KnowledgeBaseError(f"{where}: 'name' must be snake_case ASCII, got {name!r}")
    category = item.get("category")
    if category not in CATEGORIES:
        raise KnowledgeBaseError(f"{where} ({name}): 'category' must be one of {', '.join(CATEGORIES)}")
    answer = item.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        raise KnowledgeBaseError(f"{where} ({name}): 'answer' must be non-empty text")
    examples = item.get("examples")
    if not isinstance(examples, list) or not examples or not all(isinstance(e, str) and e.strip() for e in examples):
        raise KnowledgeBaseError(f"{where} ({name}): 'examples' must be a non-empty list of texts")
    title = item.get("title") or examples[0]
    lookup = item.get("lookup")
    if lookup is not None and lookup not in LOOKUP_KINDS:
        raise KnowledgeBaseError(f"{where} ({name}): 'lookup' must be one of {', '.join(LOOKUP_KINDS)}")
    overrides = item.get("lookup_answers") or {}
    texts = isinstance(overrides, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in overrides.items())
    if not texts:
        raise KnowledgeBaseError(f"{where} ({name}): 'lookup_answers' must map template names to texts")
    return Intent(
        name, category, answer.strip(), tuple(examples), str(title), bool(item.get("handoff", False)),
        lookup, tuple(sorted(overrides.items())),
    )  # fmt: skip


def allow_fields_of(content: str) -> None:
    """Let the csv module read any field ``content`` can hold: its default limit (131,072
    characters) would stop a long text with ``csv.Error``, and the file is in memory anyway."""
    if len(content) > csv.field_size_limit():
        csv.field_size_limit(len(content))


def load_labelled(path: Path, label_column: str = "intent") -> tuple[list[str], list[str]]:
    """Rows of a UTF-8 CSV (or TSV) with a header ``text,<label_column>``; extra columns are refused."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise KnowledgeBaseError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from None
    except OSError as e:
        raise KnowledgeBaseError(f"{path}: cannot read ({e.strerror})") from None
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in content.partition("\n")[0] else ","
    allow_fields_of(content)
    reader = csv.DictReader(io.StringIO(content), delimiter=delimiter)
    try:
        return _labelled_rows(path, reader, label_column)
    except csv.Error as e:
        raise KnowledgeBaseError(f"{path}: line {reader.line_num}: not valid CSV ({e})") from None


def _labelled_rows(path: Path, reader: csv.DictReader[str], label_column: str) -> tuple[list[str], list[str]]:
    header = [h.strip() for h in (reader.fieldnames or [])]
    expected = ["text", label_column]
    if sorted(header) != sorted(expected):
        raise KnowledgeBaseError(
            f"{path}: expected the header '{','.join(expected)}', got '{','.join(header) or '(empty file)'}'"
        )
    texts, labels = [], []
    for line_no, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not row.get("text") or not row.get(label_column):
            raise KnowledgeBaseError(f"{path}: line {line_no}: empty text or {label_column}")
        texts.append(row["text"])
        labels.append(row[label_column])
    if not texts:
        raise KnowledgeBaseError(f"{path}: no rows after the header")
    return texts, labels


def load_training_data(path: Path) -> tuple[list[str], list[str], KnowledgeBase | None]:
    """Examples from a knowledge base (YAML) or a labelled file (CSV/TSV)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        kb = load_knowledge_base(path)
        texts, labels = kb.training_pairs()
        return texts, labels, kb
    texts, labels = load_labelled(path)
    return texts, labels, None
