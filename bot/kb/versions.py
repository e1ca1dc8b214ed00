"""Every applied change to the knowledge base is a version: the whole YAML file as it became,
with who changed it, when, why, what changed and its cross-validated accuracy. Kept as files
under ``<data_dir>/kb_versions`` (``0001.yaml`` and ``0001.json``), so that a rollback restores
exactly the bytes that were in use."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Version:
    number: int
    who: str
    at: float  # unix seconds
    note: str  # "import kb.xlsx", "rollback to 3", "as found before the first change"
    changes: list[str] = field(default_factory=list)
    accuracy: float | None = None  # cross-validated, when it was measured


class VersionError(Exception):
    """A version that does not exist."""


class VersionStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def versions(self) -> list[Version]:
        if not self.directory.is_dir():
            return []
        found = sorted(self.directory.glob("[0-9][0-9][0-9][0-9].json"))
        return [Version(**json.loads(p.read_text(encoding="utf-8"))) for p in found]

    def get(self, number: int) -> Version:
        path = self._path(number, "json")
        if not path.exists():
            raise VersionError(f"no knowledge-base version {number} (see kefu kb versions)")
        return Version(**json.loads(path.read_text(encoding="utf-8")))

    def content(self, number: int) -> str:
        self.get(number)
        return self._path(number, "yaml").read_text(encoding="utf-8")

    def latest(self) -> Version | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def record(
        self, content: str, who: str, at: float, note: str, changes: list[str], accuracy: float | None
    ) -> Version:
        """Keep ``content`` as the next version; its metadata is written last, so a version is
        listed only once its file is complete."""
        latest = self.latest()
        version = Version((latest.number if latest else 0) + 1, who, at, note, changes, accuracy)
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(self._path(version.number, "yaml"), content)
        write_atomically(self._path(version.number, "json"), json.dumps(asdict(version), ensure_ascii=False))
        return version

    def _path(self, number: int, suffix: str) -> Path:
        return self.directory / f"{number:04d}.{suffix}"


def write_atomically(path: Path, content: str) -> None:
    """Write beside ``path`` and rename over it: a reader (the running bot's watcher) sees the old
    file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
