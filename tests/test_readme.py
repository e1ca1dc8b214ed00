"""The configuration examples in README are valid configuration (so the docs cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
BLOCKS = [b for b in re.findall(r"```yaml\n(.*?)```", README, flags=re.S) if not b.startswith("version:")]


@pytest.mark.parametrize("block", BLOCKS, ids=[b.split(":", 1)[0] for b in BLOCKS])
def test_readme_config_example_is_valid(block: str) -> None:
    data = yaml.safe_load(block)
    Settings(**data)  # raises with the offending key if the example is wrong
