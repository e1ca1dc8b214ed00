"""Fake feishu API endpoints (filled in with the feishu adapter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fake_platform.server import FakePlatform


def register(fake: "FakePlatform") -> None:
    """Add this platform's routes to the fake server."""
