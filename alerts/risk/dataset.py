"""Labelled risk data: a UTF-8 CSV (or TSV) with a header row and columns ``text,label``.

``label`` is ``1`` for risk (complaint, anger, dissatisfaction) and ``0`` for not. Every problem
is reported with the file and line so that an operator can fix it without reading code.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.nlu.knowledge import allow_fields_of


class RiskDataError(Exception):
    """A risk data file that cannot be used; the message is meant for the operator as is."""


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    label: int  # 1 = risk, 0 = not
    line: int  # line number in the file, for messages


_TRUE = {"1"}
_FALSE = {"0"}


def load_risk_csv(path: str | Path) -> list[LabelledText]:
    """Read ``text,label`` rows; tab-separated files with the same header are accepted too."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RiskDataError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise RiskDataError(f"{path}: not UTF-8 text (save it as UTF-8 CSV)") from None
    except OSError as e:
        raise RiskDataError(f"{path}: cannot read ({e.strerror})") from None
    lines = raw.splitlines()
    if not lines or not lines[0].strip():
        raise RiskDataError(f"{path}: empty file; expected a header row `text,label` and data rows")
    header = lines[0]
    delimiter = "\t" if header.count("\t") > header.count(",") else ","
    allow_fields_of(raw)
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        return _rows(path, reader, delimiter)
    except csv.Error as e:
        raise RiskDataError(f"{path} line {reader.line_num}: not valid CSV ({e})") from None


def _rows(path: Path, reader: Iterator[list[str]], delimiter: str) -> list[LabelledText]:
    columns = [c.strip().lower() for c in next(reader)]
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        found = ", ".join(c for c in columns if c) or "nothing"
        raise RiskDataError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
            f"in the header row (found: {found}); a risk file needs the columns text,label"
        )
    text_at, label_at = columns.index("text"), columns.index("label")
    rows: list[LabelledText] = []
    for line_no, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue  # blank lines are harmless
        if len(record) <= max(text_at, label_at):
            raise RiskDataError(
                f"{path} line {line_no}: expected {len(columns)} columns, got {len(record)} "
                f"(a text with a {'tab' if delimiter == chr(9) else 'comma'} in it must be quoted)"
            )
        text, label = record[text_at].strip(), record[label_at].strip()
        if not text:
            raise RiskDataError(f"{path} line {line_no}: empty text")
        if label in _TRUE:
            value = 1
        elif label in _FALSE:
            value = 0
        else:
            raise RiskDataError(f"{path} line {line_no}: label must be 1 (risk) or 0 (not risk), got {label!r}")
        rows.append(LabelledText(text=text, label=value, line=line_no))
    if not rows:
        raise RiskDataError(f"{path}: no data rows under the header")
    return rows
