"""``kefu kb``: the knowledge base as CSV/XLSX both ways, versions, diffs, rollbacks and the
evaluation gate, run in-process on a small knowledge base (models trained for real)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from bot.kb.table import COLUMNS
from bot.nlu.knowledge import load_knowledge_base
from bot.runtime.cli import app

UNIT_KB = Path(__file__).parents[1] / "data" / "unit_kb.yaml"


@pytest.fixture()
def shop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A config whose knowledge base is a copy of the small one; returns the config's path."""
    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    shutil.copy(UNIT_KB, tmp_path / "faq.yaml")
    config = tmp_path / "kefu.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\nknowledge_base: faq.yaml\nnlu: {{pretrained_vectors: false}}\n",
        encoding="utf-8",
    )
    return config


def kefu(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_export_then_import_changes_nothing(shop: Path, tmp_path: Path, suffix: str) -> None:
    table = tmp_path / f"kb.{suffix}"
    code, out = kefu("kb", "export", table, "-c", shop)
    assert code == 0 and "wrote 48 examples of 6 intents" in out
    before = (tmp_path / "faq.yaml").read_bytes()
    code, out = kefu("kb", "import", table, "-c", shop, "--yes")
    assert code == 0 and "0 change(s)" in out and "nothing applied (no change)" in out
    assert (tmp_path / "faq.yaml").read_bytes() == before


def test_an_import_is_previewed_gated_applied_and_versioned(shop: Path, tmp_path: Path) -> None:
    # Cross-validation on 48 examples moves by a few points with one intent more or less.
    shop.write_text(shop.read_text(encoding="utf-8") + "kb: {max_accuracy_drop: 0.1}\n", encoding="utf-8")
    table = tmp_path / "kb.csv"
    kefu("kb", "export", table, "-c", shop)
    rows = read_rows(table)
    rows += [
        {"intent": "price_protect", "title": "价格保护", "category": "payment", "answer": "亲，签收后7天内降价可申请价保。",
         "example": e}
        for e in ["降价了能补差价吗", "买贵了怎么办", "价保怎么申请", "刚买就降价了", "能不能保价", "差价能退吗"]
    ]  # fmt: skip
    write_rows(table, rows)

    code, out = kefu("kb", "import", table, "-c", shop, "--dry-run")
    assert code == 0 and "+ price_protect: new intent, 6 examples" in out and "(--dry-run)" in out
    assert "price_protect" not in (tmp_path / "faq.yaml").read_text(encoding="utf-8")

    code, out = kefu("kb", "import", table, "-c", shop, "--yes", "--by", "lihua")
    assert code == 0, out
    assert "version 2 applied" in out
    kb = load_knowledge_base(tmp_path / "faq.yaml")
    assert "price_protect" in kb.intents and kb.synonyms.table == {"快第": "快递"}  # synonyms kept

    code, out = kefu("kb", "versions", "--json", "-c", shop)
    first, second = json.loads(out)
    assert (first["number"], first["note"], second["who"], second["note"]) == (
        1, "as found before the first change", "lihua", "import kb.csv",
    )  # fmt: skip
    assert second["changes"] == ["+ price_protect: new intent, 6 examples"]
    assert 0 < second["accuracy"] <= 1
    code, out = kefu("kb", "diff", "1", "2", "-c", shop)
    assert out.strip() == "+ price_protect: new intent, 6 examples"

    code, out = kefu("kb", "rollback", "1", "-c", shop, "--yes")
    assert code == 0 and "- price_protect: removed, with its 6 examples" in out and "version 3 applied" in out, out
    assert (tmp_path / "faq.yaml").read_bytes() == UNIT_KB.read_bytes()


def test_a_change_that_breaks_a_must_answer_question_is_refused_unless_forced(shop: Path, tmp_path: Path) -> None:
    (tmp_path / "must.csv").write_text("text,intent\n我要开发票,invoice\n", encoding="utf-8")
    shop.write_text(shop.read_text(encoding="utf-8") + "kb: {must_answer: must.csv}\n", encoding="utf-8")
    table = tmp_path / "kb.csv"
    kefu("kb", "export", table, "-c", shop)
    write_rows(table, [r for r in read_rows(table) if r["intent"] != "invoice"])
    before = (tmp_path / "faq.yaml").read_bytes()

    code, out = kefu("kb", "import", table, "-c", shop, "--yes")
    assert code == 1 and "refused by the evaluation gate" in out and "must answer '我要开发票' with invoice" in out
    assert (tmp_path / "faq.yaml").read_bytes() == before

    code, out = kefu("kb", "import", table, "-c", shop, "--yes", "--force")
    assert code == 0 and "forced past" in out
    assert "invoice" not in load_knowledge_base(tmp_path / "faq.yaml").intents


def test_a_change_that_costs_accuracy_is_refused(shop: Path, tmp_path: Path) -> None:
    table = tmp_path / "kb.csv"
    kefu("kb", "export", table, "-c", shop)
    rows = read_rows(table)
    intents = sorted({r["intent"] for r in rows})
    heads = {i: next(r for r in rows if r["intent"] == i) for i in intents}
    for n, row in enumerate(rows):  # every example under the wrong intent, in a rotation
        wrong = heads[intents[(intents.index(row["intent"]) + 1 + n % 2) % len(intents)]]
        row.update({k: wrong[k] for k in ("intent", "title", "category", "answer", "handoff", "lookup")})
    write_rows(table, rows)
    code, out = kefu("kb", "import", table, "-c", shop, "--yes")
    assert code == 1 and "cross-validated accuracy drops from" in out


def bad_tables(tmp_path: Path, good: list[dict[str, str]]) -> list[tuple[Path, str]]:
    cases = []
    cases.append((write_rows(tmp_path / "missing.csv", good, ("intent", "title", "category", "example")),
                  "row 1: missing column(s) answer"))  # fmt: skip
    duplicate = [*good, {**good[0], "intent": "greeting", "title": "打招呼", "category": "chitchat",
                         "answer": "您好"}]  # fmt: skip
    cases.append((write_rows(tmp_path / "dup.csv", duplicate), f"row {len(good) + 2}: the example"))
    no_answer = [dict(r) for r in good]
    no_answer[4]["answer"] = ""
    cases.append((write_rows(tmp_path / "noanswer.csv", no_answer), "row 6: empty answer (intent where_is_parcel)"))
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    cases.append((big, "50 MB is too large"))
    book = Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for r in good:
        sheet.append([r[c] for c in COLUMNS])
    sheet["E3"] = "=A2&B2"
    book.save(tmp_path / "formula.xlsx")
    cases.append((tmp_path / "formula.xlsx", "row 3: cell E3 is a formula"))
    book = load_workbook(tmp_path / "formula.xlsx")
    book.active["E3"] = "包裹在哪"
    book.active.merge_cells("C4:C6")
    book.save(tmp_path / "merged.xlsx")
    cases.append((tmp_path / "merged.xlsx", "row 4: merged cells (C4:C6)"))
    return cases


def test_bad_tables_name_the_row_and_change_nothing(shop: Path, tmp_path: Path) -> None:
    table = tmp_path / "kb.csv"
    kefu("kb", "export", table, "-c", shop)
    good = read_rows(table)
    before = (tmp_path / "faq.yaml").read_bytes()
    for path, expected in bad_tables(tmp_path, good):
        code, out = kefu("kb", "import", path, "-c", shop, "--yes")
        assert code == 1 and expected in out and "nothing changed" in out, (path.name, out)
    assert (tmp_path / "faq.yaml").read_bytes() == before
    assert not (tmp_path / "data" / "kb_versions").exists()


def test_the_shipped_knowledge_base_is_never_rewritten(shop: Path, tmp_path: Path) -> None:
    shop.write_text(f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    table = tmp_path / "kb.csv"
    assert kefu("kb", "export", table, "-c", shop)[0] == 0
    code, out = kefu("kb", "import", table, "-c", shop, "--yes")
    assert code == 2 and "knowledge_base is not set" in out


def test_the_written_file_reads_as_people_write_it(shop: Path, tmp_path: Path) -> None:
    table = tmp_path / "kb.csv"
    kefu("kb", "export", table, "-c", shop)
    rows = read_rows(table)
    for row in rows:
        if row["intent"] == "greeting":
            row["answer"] = "亲，您好！\n请问有什么可以帮您？"
    write_rows(table, rows)
    assert kefu("kb", "import", table, "-c", shop, "--yes")[0] == 0
    text = (tmp_path / "faq.yaml").read_text(encoding="utf-8")
    assert "answer: |-\n      亲，您好！\n      请问有什么可以帮您？" in text  # a literal block, Chinese as is
    assert yaml.safe_load(text)["intents"][-1]["answer"] == "亲，您好！\n请问有什么可以帮您？"
