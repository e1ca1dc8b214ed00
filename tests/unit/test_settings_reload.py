"""Settings that change without a restart: the config file is watched and its listeners get the
new settings; a file that no longer loads changes nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.runtime.settings import Settings, load_settings
from bot.settings.reload import watch_settings

STAFF_YAML = "tickets:\n  staff:\n    wecom:\n      {user}: {{name: 王经理, role: manager}}\n"


def rewrite(path: Path, text: str, bump: int) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime + bump  # a clearly later mtime, whatever the file system's resolution
    os.utime(path, (stamp, stamp))


async def until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_listeners_get_each_valid_change_and_nothing_else(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "kefu.yaml"
    path.write_text(STAFF_YAML.format(user="boss"), encoding="utf-8")
    seen: list[Settings] = []

    def broken_listener(_: Settings) -> None:
        raise RuntimeError("this part cannot take new settings")

    async def scenario() -> None:
        watcher = asyncio.create_task(
            watch_settings(path, load_settings, [broken_listener, seen.append], interval=0.01)
        )
        try:
            await asyncio.sleep(0.1)
            assert seen == []  # unchanged file: nothing to tell
            rewrite(path, "tickets: [broken", bump=10)
            await until(lambda: "settings not reloaded" in caplog.text)
            assert seen == []  # the previous settings stay
            rewrite(path, STAFF_YAML.format(user="newboss"), bump=20)
            await until(lambda: len(seen) == 1)
            assert list(seen[0].tickets.staff["wecom"]) == ["newboss"]  # despite the broken listener
            rewrite(path, STAFF_YAML.format(user="third"), bump=30)
            await until(lambda: len(seen) == 2)  # and the watcher lives on
        finally:
            watcher.cancel()

    asyncio.run(scenario())
