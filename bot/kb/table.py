"""The knowledge base as a table, one row per example (``intent, title, category, answer,
example`` and the optional ``handoff, lookup, lookup_answers``), in CSV or XLSX, both ways.

Export then import gives back the same intents: every field of an intent is in its rows. The
synonyms stay in the YAML file (a table of examples has no place for them) and an import keeps
the current ones. Every problem names the row as a spreadsheet shows it (the header is row 1).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bot.nlu.knowledge import KnowledgeBaseError, allow_fields_of, parse_intent

REQUIRED = ("intent", "title", "category", "answer", "example")
OPTIONAL = ("handoff", "lookup", "lookup_answers")
COLUMNS = REQUIRED + OPTIONAL
MAX_IMPORT_BYTES = 20 * 1024 * 1024  # far above any shop's knowledge base; a bigger file is a mistake
_PER_INTENT = ("title", "category", "answer", "handoff", "lookup", "lookup_answers")
_TRUE = {"1", "true", "yes", "y", "是"}
_FALSE = {"", "0", "false", "no", "n", "否"}


class TableError(Exception):
    """A table that cannot become a knowledge base; the message names the file and the row."""


def rows_of(intents: Iterable[dict[str, Any]]) -> Iterator[dict[str, str]]:
    """One row per example of the knowledge base's ``intents`` (its YAML mappings)."""
    for intent in intents:
        overrides = intent.get("lookup_answers") or {}
        for example in intent["examples"]:
            yield {
                "intent": intent["name"], "title": intent.get("title") or "", "category": intent["category"],
                "answer": intent["answer"], "example": example, "handoff": "true" if intent.get("handoff") else "",
                "lookup": intent.get("lookup") or "",
                "lookup_answers": json.dumps(overrides, ensure_ascii=False, sort_keys=True) if overrides else "",
            }  # fmt: skip


def write_table(rows: Iterable[dict[str, str]], path: Path) -> int:
    """Write ``rows`` as CSV (UTF-8 with a BOM, so that Excel reads it) or XLSX, by suffix."""
    rows = list(rows)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook  # spreadsheets only here: openpyxl brings numpy with it

        book = Workbook()
        sheet = book.active
        sheet.title = "knowledge_base"
        sheet.append(list(COLUMNS))
        for row in rows:
            sheet.append([row[c] for c in COLUMNS])
        book.save(path)
    else:
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return len(rows)


def read_table(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV/TSV or XLSX file with their row numbers, cells stripped."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise TableError(f"{path}: cannot read ({e.strerror})") from None
    if size > MAX_IMPORT_BYTES:
        raise TableError(f"{path}: {size / 2**20:.0f} MB is too large for a knowledge base (at most 20 MB)")
    table = _read_xlsx(path) if path.suffix.lower() == ".xlsx" else _read_csv(path)
    header, *body = table
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise TableError(f"{path}: row 1: missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)})")
    unknown = [h for h in names if h and h not in COLUMNS]
    if unknown:
        raise TableError(f"{path}: row 1: unknown column(s) {', '.join(unknown)} (expected {', '.join(COLUMNS)})")
    rows = []
    for number, cells in enumerate(body, start=2):
        row = {name: (cells[i] if i < len(cells) else "").strip() for i, name in enumerate(names) if name}
        if any(row.values()):
            rows.append((number, row))
    if not rows:
        raise TableError(f"{path}: no rows after the header")
    return rows


def _read_csv(path: Path) -> list[list[str]]:
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise TableError(f"{path}: not UTF-8 text; save it as UTF-8 CSV or as XLSX") from None
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in content.partition("\n")[0] else ","
    allow_fields_of(content)
    try:
        table = list(csv.reader(io.StringIO(content), delimiter=delimiter))
    except csv.Error as e:
        raise TableError(f"{path}: not valid CSV ({e})") from None
    if not table:
        raise TableError(f"{path}: empty file")
    return table


def _read_xlsx(path: Path) -> list[list[str]]:
    """The first sheet's values; formulas and merged cells are refused, since what a person sees
    there (a computed value, one cell spread over rows) is not what the file holds."""
    from openpyxl import load_workbook  # as in ``write_table``
    from openpyxl.cell.cell import TYPE_FORMULA

    try:
        sheet = load_workbook(path, data_only=False).worksheets[0]
    except Exception as e:  # openpyxl raises many kinds for a file that is not a workbook
        raise TableError(f"{path}: not a readable XLSX workbook ({type(e).__name__})") from None
    if sheet.merged_cells.ranges:
        first = sorted(sheet.merged_cells.ranges, key=lambda r: (r.min_row, r.min_col))[0]
        raise TableError(f"{path}: row {first.min_row}: merged cells ({first.coord}); unmerge them and fill every row")
    table = []
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == TYPE_FORMULA:
                raise TableError(
                    f"{path}: row {cell.row}: cell {cell.coordinate} is a formula; paste its value instead"
                )
        table.append(["" if cell.value is None else str(cell.value) for cell in row])
    if not table:
        raise TableError(f"{path}: the first sheet is empty")
    return table


def intents_from_rows(path: Path, rows: list[tuple[int, dict[str, str]]]) -> list[dict[str, Any]]:
    """The intents' YAML mappings, in the order they first appear; a row that disagrees with its
    intent's first row, a missing value or a repeated example is an error naming both rows."""
    intents: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    seen: dict[str, tuple[int, str]] = {}
    for number, row in rows:
        where = f"{path}: row {number}"
        name = row.get("intent", "")
        for column in ("intent", "category", "answer", "example"):
            if not row.get(column):
                raise TableError(f"{where}: empty {column}" + (f" (intent {name})" if name else ""))
        key = " ".join(row["example"].split()).lower()
        if key in seen:
            other, other_intent = seen[key]
            raise TableError(f"{where}: the example {row['example']!r} is already in row {other} ({other_intent})")
        seen[key] = (number, name)
        fields = _intent_fields(where, row)
        if name not in intents:
            intents[name] = {"name": name, **fields, "examples": []}
            first_row[name] = number
        else:
            for column in _PER_INTENT:
                if intents[name].get(column) != fields.get(column):
                    raise TableError(
                        f"{where}: {column} of {name} differs from row {first_row[name]}; an intent's rows must agree"
                    )
        intents[name]["examples"].append(row["example"])
    mappings = [{k: v for k, v in intent.items() if v is not None} for intent in intents.values()]
    for mapping in mappings:
        try:
            parse_intent(mapping, f"{path}: row {first_row[mapping['name']]}")
        except KnowledgeBaseError as e:
            raise TableError(str(e)) from None
    return mappings


def _intent_fields(where: str, row: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {"title": row.get("title") or None, "category": row["category"], "answer": row["answer"]}
    handoff = row.get("handoff", "").lower()
    if handoff not in _TRUE | _FALSE:
        raise TableError(f"{where}: handoff must be true or empty, got {row['handoff']!r}")
    fields["handoff"] = handoff in _TRUE or None
    fields["lookup"] = row.get("lookup") or None
    raw = row.get("lookup_answers", "")
    try:
        overrides = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        raise TableError(f"{where}: lookup_answers must be a JSON object of template names to texts") from None
    fields["lookup_answers"] = overrides
    return fields
