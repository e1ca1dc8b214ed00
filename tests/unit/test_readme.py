"""README and docs/ cannot drift from the code: their configuration examples are valid
configuration, their knowledge-base example loads, README's commands exist with the flags it
shows, and every link between the pages leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.nlu.knowledge import load_knowledge_base
from bot.runtime.cli import app
from bot.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").rglob("*.md"))}
DOCUMENTS = {"README.md": README, **PAGES}


def yaml_blocks(start: bool) -> list[tuple[str, str]]:
    """(where, block) for every ```yaml block; ``start`` picks knowledge bases (``version:``) or not."""
    found = []
    for name, text in DOCUMENTS.items():
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)):
            if block.startswith("version:") == start:
                found.append((f"{name}#{i}", block))
    return found


CONFIG_BLOCKS = yaml_blocks(start=False)
KB_BLOCKS = yaml_blocks(start=True)


@pytest.mark.parametrize("block", [b for _, b in CONFIG_BLOCKS], ids=[w for w, _ in CONFIG_BLOCKS])
def test_config_example_is_valid(block: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The examples leave secrets to the environment, as the docs advise: give them some.
    for name in ("WECOM__TOKEN", "WECOM__ENCODING_AES_KEY", "WECOM__SECRET", "WECHAT__TOKEN", "WECHAT__APP_SECRET",
                 "DINGTALK__APP_SECRET", "FEISHU__APP_SECRET", "FEISHU__VERIFICATION_TOKEN"):  # fmt: skip
        monkeypatch.setenv(f"KEFU_CHANNELS__{name}", "k" * 43)
    Settings(**yaml.safe_load(block))  # raises with the offending key if the example is wrong


@pytest.mark.parametrize("block", [b for _, b in KB_BLOCKS], ids=[w for w, _ in KB_BLOCKS])
def test_knowledge_base_example_loads(block: str, tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text(block, encoding="utf-8")
    assert load_knowledge_base(path).intents


def test_readme_has_the_setup_and_test_commands() -> None:
    # CI (.ci/run) runs exactly these; a newcomer copies them.
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && kefu serve" in README
    assert ". .venv/bin/activate && python -m pytest" in README
    assert "## 快速开始" in README


def command_rows() -> list[str]:
    """The first cell of each row of README's command-line table."""
    section = README.split("## Command line", 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `(kefu [^`]+)`", section, flags=re.MULTILINE)]


def test_readme_lists_the_commands() -> None:
    listed = {row.split()[1] for row in command_rows()}
    assert {"serve", "worker", "train", "eval", "ask", "check-config", "tickets"} <= listed


@pytest.mark.parametrize("row", command_rows())
def test_readme_command_exists_with_its_flags(row: str) -> None:
    words = []
    for token in row.split()[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*(\\\|[a-z][a-z-]*)*", token):
            break
        words.append(token.split("\\|"))
    head, alternatives = [w[0] for w in words[:1]], words[1] if len(words) > 1 else [None]
    helps = []
    for alternative in alternatives:
        args = [*head, *([alternative] if alternative else []), "--help"]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0, (args, result.output)
        helps.append(result.output)
    for flag in re.findall(r"--[a-z][a-z-]*", row):
        assert any(flag in text for text in helps), f"{row}: no {flag} in kefu's help"


def local_links(text: str) -> list[str]:
    return [
        t for t in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text) if "://" not in t and not t.startswith("mailto:")
    ]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_links_lead_somewhere(name: str) -> None:
    base = (ROOT / name).parent
    for target in local_links(DOCUMENTS[name]):
        resolved = (base / target).resolve()
        assert resolved.exists(), f"{name}: broken link {target}"


def test_index_lists_every_page() -> None:
    index = PAGES["docs/index.md"]
    listed = {(ROOT / "docs" / t).resolve().relative_to(ROOT).as_posix() for t in local_links(index)}
    assert set(PAGES) - {"docs/index.md"} <= listed
