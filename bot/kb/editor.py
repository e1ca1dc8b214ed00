"""Changing the knowledge base the bot runs on: plan an import or a rollback (the new file and
what changes), then apply it through the gate. Applying writes the file in one rename, which
the running bot's watcher picks up without a restart, and records a version."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.kb.diff import kb_changes
from bot.kb.gate import Gate, GateResult
from bot.kb.table import intents_from_rows, read_table
from bot.kb.versions import Version, VersionStore, write_atomically
from bot.nlu.knowledge import KnowledgeBase, load_knowledge_base


class GateRefused(Exception):
    def __init__(self, result: GateResult) -> None:
        super().__init__("; ".join(result.reasons))
        self.result = result


@dataclass(frozen=True, slots=True)
class Plan:
    text: str  # the knowledge base's YAML file as it would become
    note: str
    changes: list[str]


@dataclass(frozen=True, slots=True)
class Applied:
    version: Version
    gate: GateResult


class KnowledgeBaseEditor:
    def __init__(self, path: Path, versions: VersionStore, gate: Gate, clock: Callable[[], float]) -> None:
        self.path = path
        self.versions = versions
        self.gate = gate
        self.clock = clock

    def current(self) -> dict[str, Any]:
        load_knowledge_base(self.path)  # the file in use must itself be valid
        return yaml.safe_load(self.path.read_text(encoding="utf-8"))

    def plan_import(self, table: Path) -> Plan:
        """The current file with its intents replaced by the table's (synonyms kept)."""
        data = self.current()
        intents = intents_from_rows(table, read_table(table))
        new = {**data, "intents": intents}
        return Plan(dump_kb(new), f"import {table.name}", kb_changes(data, new))

    def plan_rollback(self, number: int) -> Plan:
        text = self.versions.content(number)
        return Plan(text, f"rollback to {number}", kb_changes(self.current(), yaml.safe_load(text)))

    def apply(self, plan: Plan, who: str, force: bool = False) -> Applied:
        """Judge the planned file, then write it and record it as the next version; the file in
        use is recorded first if no version holds it yet (the first change, or a hand edit)."""
        current = self.path.read_text(encoding="utf-8")
        latest = self.versions.latest()
        if latest is None or self.versions.content(latest.number) != current:
            note = "as found before the first change" if latest is None else "edited by hand"
            accuracy = self.gate.accuracy(load_knowledge_base(self.path))
            latest = self.versions.record(current, "-", self.clock(), note, [], accuracy)
        result = self.gate.judge(self._loaded(plan.text), latest.accuracy)
        if not result.passed and not force:
            raise GateRefused(result)
        write_atomically(self.path, plan.text)
        version = self.versions.record(plan.text, who, self.clock(), plan.note, plan.changes, result.accuracy)
        return Applied(version, result)

    def _loaded(self, text: str) -> KnowledgeBase:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "kb.yaml"
            path.write_text(text, encoding="utf-8")
            return load_knowledge_base(path)


class _KbDumper(yaml.SafeDumper):
    """Lists indented under their key and multi-line answers as literal blocks, as people (and
    the shipped file) write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_KbDumper.add_representer(str, _str)


def dump_kb(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_KbDumper, allow_unicode=True, sort_keys=False, width=1000)
