"""Settings that take effect without a restart: the config file is watched, and on a change each
listener gets the new settings (risk word lists and thresholds, the staff map). A file that no
longer loads changes nothing: the error is logged and the previous settings stay."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.settings import ConfigError, CoreSettings

log = logging.getLogger(__name__)

SettingsListener = Callable[[Any], None]  # gets the root's settings, or a feature's own section


def mtime(path: Path | None) -> float:
    """When ``path`` last changed; 0 when there is no such file."""
    if path is None:
        return 0.0
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0


async def watch_settings(
    config_path: Path,
    load: Callable[[Path], CoreSettings],
    listeners: Sequence[SettingsListener],
    interval: float = 2.0,
) -> None:
    stamp = mtime(config_path)
    while True:
        await asyncio.sleep(interval)
        if mtime(config_path) == stamp:
            continue
        stamp = mtime(config_path)
        try:
            settings = load(config_path)
        except ConfigError as e:
            log.error("settings not reloaded, keeping the previous ones: %s", e)
            continue
        for listener in listeners:
            try:
                listener(settings)
            except Exception:  # one part refusing its new settings must not stop the others' reloads
                log.exception("settings reload: %r failed, that part keeps its previous settings", listener)
        log.info("settings reloaded from %s", config_path)
