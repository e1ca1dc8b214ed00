"""What changes between two knowledge bases, intent by intent, in lines a person reads before
applying an import or a rollback."""

from __future__ import annotations

from typing import Any

_FIELDS = ("title", "category", "answer", "handoff", "lookup", "lookup_answers")


def kb_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``+`` an intent added, ``-`` removed, ``~`` changed (which fields, which examples)."""
    before = {i["name"]: i for i in old.get("intents") or []}
    after = {i["name"]: i for i in new.get("intents") or []}
    lines = [f"+ {name}: new intent, {len(after[name]['examples'])} examples" for name in after if name not in before]
    lines += [
        f"- {name}: removed, with its {len(before[name]['examples'])} examples" for name in before if name not in after
    ]
    for name in after:
        if name in before:
            lines += [f"~ {name}: {change}" for change in _intent_changes(before[name], after[name])]
    if (old.get("synonyms") or {}) != (new.get("synonyms") or {}):
        lines.append("~ synonyms changed")
    return lines


def _value(intent: dict[str, Any], name: str) -> Any:
    """A field as it acts: an absent handoff is false, absent templates are none."""
    value = intent.get(name)
    return bool(value) if name == "handoff" else (value or None)


def _intent_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes = [f"{f} changed" for f in _FIELDS if _value(old, f) != _value(new, f)]
    added = [e for e in new["examples"] if e not in set(old["examples"])]
    removed = [e for e in old["examples"] if e not in set(new["examples"])]
    if added:
        changes.append(f"{len(added)} example(s) added: " + "、".join(added[:3]) + ("…" if len(added) > 3 else ""))
    if removed:
        changes.append(
            f"{len(removed)} example(s) removed: " + "、".join(removed[:3]) + ("…" if len(removed) > 3 else "")
        )
    return changes
