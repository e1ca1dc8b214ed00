"""``kefu kb export|import|versions|diff|rollback``: the knowledge base as a spreadsheet and its
versions. Registered on the main ``kefu`` app by bot/runtime/cli.py, whose error boundary words a
configuration error."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import typer
import yaml

from bot.kb.diff import kb_changes
from bot.kb.editor import GateRefused, KnowledgeBaseEditor, Plan
from bot.kb.gate import Gate
from bot.kb.table import TableError, rows_of, write_table
from bot.kb.versions import VersionError, VersionStore
from bot.nlu.knowledge import KnowledgeBaseError, load_knowledge_base, load_labelled
from bot.runtime import thresholds, train_params
from bot.runtime.settings import Settings, load_settings

kb_app = typer.Typer(help="The knowledge base as CSV/XLSX, its versions and rollbacks.", no_args_is_help=True)
_ConfigOpt = typer.Option(None, "--config", "-c", help="config YAML (default: KEFU_CONFIG or config/kefu.yaml)")
_YesOpt = typer.Option(False, "--yes", "-y", help="apply without asking")
_ForceOpt = typer.Option(False, "--force", help="apply even if the evaluation gate refuses it")
_ByOpt = typer.Option(os.environ.get("USER", "cli"), "--by", help="who makes the change (kept in the version)")


def register_kb(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _versions(settings: Settings) -> VersionStore:
    return VersionStore(settings.data_dir / "kb_versions")


def _editor(settings: Settings) -> KnowledgeBaseEditor:
    if settings.knowledge_base is None:
        _fail(
            "knowledge_base is not set, so kefu runs the shipped knowledge base, which kb import and rollback "
            "never change: export it (kefu kb export kb.xlsx), then set knowledge_base: in your config to your "
            "own YAML file (a copy of the shipped one to start)",
            2,
        )
    kb = settings.kb
    must_answer: list[tuple[str, str]] = []
    if kb.must_answer is not None:
        try:
            texts, intents = load_labelled(kb.must_answer)
        except KnowledgeBaseError as e:
            _fail(f"kb.must_answer: {e}", 2)
        must_answer = list(zip(texts, intents))
    gate = Gate(train_params(settings), thresholds(settings), kb.max_accuracy_drop, kb.folds, must_answer)
    return KnowledgeBaseEditor(settings.faq_path, _versions(settings), gate, time.time)


def _change(
    config: Path | None, plan_with: Callable[[KnowledgeBaseEditor], Plan], by: str, yes: bool, force: bool,
    dry_run: bool,
) -> None:  # fmt: skip
    """Plan a change, show it, ask, then apply it through the gate (import and rollback)."""
    editor = _editor(load_settings(config))
    try:
        plan = plan_with(editor)
    except (TableError, KnowledgeBaseError, VersionError) as e:
        _fail(f"{e}\nnothing changed")
    typer.echo(f"{plan.note}: {len(plan.changes)} change(s)")
    for line in plan.changes:
        typer.echo(f"  {line}")
    if dry_run or not plan.changes:
        typer.echo("nothing applied" + (" (no change)" if not plan.changes else " (--dry-run)"))
        return
    if not yes and not typer.confirm("apply? (the gate cross-validates first, which takes a while)"):
        typer.echo("nothing applied")
        raise typer.Exit(1)
    try:
        applied = editor.apply(plan, by, force)
    except GateRefused as e:
        lines = "\n  ".join(e.result.reasons)
        _fail(f"refused by the evaluation gate, nothing changed (--force applies it anyway):\n  {lines}")
    v, gate = applied.version, applied.gate
    forced = "" if gate.passed else " (forced past: " + "; ".join(gate.reasons) + ")"
    typer.echo(f"version {v.number} applied to {editor.path}; cross-validated accuracy {gate.accuracy:.1%}{forced}")
    typer.echo("a running kefu picks it up within seconds, without a restart")


@kb_app.command("export")
def export(file: Path = typer.Argument(..., help="kb.csv or kb.xlsx"), config: Path | None = _ConfigOpt) -> None:
    """Write the knowledge base in use as a table, one row per example."""
    settings = load_settings(config)
    try:
        load_knowledge_base(settings.faq_path)
    except KnowledgeBaseError as e:
        _fail(str(e), 2)
    data = yaml.safe_load(settings.faq_path.read_text(encoding="utf-8"))
    n = write_table(rows_of(data["intents"]), file)
    typer.echo(f"wrote {n} examples of {len(data['intents'])} intents to {file}")


@kb_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="kb.csv, kb.tsv or kb.xlsx with intent,title,category,answer,example"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would change, change nothing"),
    yes: bool = _YesOpt,
    force: bool = _ForceOpt,
    by: str = _ByOpt,
    config: Path | None = _ConfigOpt,
) -> None:
    """Replace the knowledge base's intents with a table's, after a preview and the gate."""
    _change(config, lambda editor: editor.plan_import(file), by, yes, force, dry_run)


@kb_app.command("versions")
def versions(as_json: bool = typer.Option(False, "--json"), config: Path | None = _ConfigOpt) -> None:
    """Every applied change: number, when, who, what."""
    found = _versions(load_settings(config)).versions()
    if as_json:
        typer.echo(json.dumps([asdict(v) for v in found], ensure_ascii=False))
        return
    for v in found:
        when = datetime.fromtimestamp(v.at).strftime("%Y-%m-%d %H:%M")
        accuracy = f"{v.accuracy:.1%}" if v.accuracy is not None else "-"
        typer.echo(f"{v.number:>4}  {when}  {v.who:<10} {accuracy:>6}  {v.note}, {len(v.changes)} change(s)")
    if not found:
        typer.echo("no versions yet: the first kb import or rollback records the file in use as version 1")


@kb_app.command("diff")
def diff(
    a: int = typer.Argument(..., help="a version number"),
    b: int = typer.Argument(..., help="a later version number"),
    as_json: bool = typer.Option(False, "--json"),
    config: Path | None = _ConfigOpt,
) -> None:
    """What changed from version A to version B."""
    store = _versions(load_settings(config))
    try:
        old, new = (yaml.safe_load(store.content(n)) for n in (a, b))
    except VersionError as e:
        _fail(str(e))
    changes = kb_changes(old, new)
    typer.echo(json.dumps(changes, ensure_ascii=False) if as_json else "\n".join(changes) or "no change")


@kb_app.command("rollback")
def rollback(
    number: int = typer.Argument(..., help="the version to go back to"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would change, change nothing"),
    yes: bool = _YesOpt,
    force: bool = _ForceOpt,
    by: str = _ByOpt,
    config: Path | None = _ConfigOpt,
) -> None:
    """Put an earlier version back in use (recorded as a new version)."""
    _change(config, lambda editor: editor.plan_rollback(number), by, yes, force, dry_run)
