"""Problems a schema cannot see: files and directories that must be usable. ``kefu check-config``
reports them all; ``kefu serve`` and ``kefu worker`` refuse to start on ``startup_problems``, so
that what check-config passes is what serve can run (shapes of keys are the settings' own checks)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from adapters import PLATFORMS
from adapters.feishu.settings import FeishuApp
from adapters.lookups import check_lookups
from alerts.notify.checks import check_alerts
from bot.nlu.knowledge import KnowledgeBaseError, load_knowledge_base
from bot.runtime.settings import Settings


def directory_problem(directory: Path) -> str | None:
    """Why kefu cannot write files into ``directory``, or None. A missing directory is fine when
    it can be created: kefu creates the directories it writes into. Writing is tried, not
    inferred from permission bits (root passes those everywhere, /proc included)."""
    if directory.exists():
        if not directory.is_dir():
            return f"{directory} is a file, not a directory"
        if cause := _unwritable(directory):
            return f"{directory}: cannot write there ({cause})"
        return None
    parent = directory.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {directory}: {parent} is a file"
    if cause := _unwritable(parent):
        return f"cannot create {directory}: cannot write in {parent} ({cause})"
    return None


def _unwritable(directory: Path) -> str | None:
    """The error of writing a scratch file in ``directory`` (removed at once), or None."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            return None
    except OSError as e:
        return e.strerror or str(e)


def output_problem(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (a model about to be trained), or None."""
    if path.is_dir():
        return f"{path} is a directory; give a file name"
    return directory_problem(path.parent)


def startup_problems(settings: Settings) -> list[str]:
    """What would stop the server: an unusable data_dir or knowledge base."""
    problems = []
    if problem := directory_problem(settings.data_dir):
        problems.append(f"data_dir: {problem}")
    bases = [("knowledge_base", settings.faq_path)]
    bases += [(f"knowledge_bases.{app}", path) for app, path in settings.knowledge_bases.items()]
    for key, path in bases:
        try:
            load_knowledge_base(path)
        except KnowledgeBaseError as e:
            problems.append(f"{key}: {e}")
    return problems


def unsigned_channels(settings: Settings) -> list[str]:
    """Warnings for apps whose callbacks nothing signs: a Feishu app without an Encrypt Key is
    checked only by the verification token inside the body, which one captured callback gives away."""
    return [
        f"channels.feishu{'' if name == 'default' else '.apps.' + name}.encrypt_key: not set, so Feishu signs "
        "nothing; set the console's Encrypt Key (docs/security.md)"
        for name, app in settings.channels.apps_of("feishu").items()
        if isinstance(app, FeishuApp) and not app.encrypt_key.get_secret_value()
    ]


def check_settings(settings: Settings) -> list[str]:
    """All that check-config reports: what stops the server, then what the schema cannot see
    across sections (staff on platforms where staff do not work, alert routing, lookups)."""
    staff_platforms = sorted(spec.name for spec in PLATFORMS if spec.staff_channel)
    staff = [
        f"tickets.staff.{platform}: staff work on {', '.join(staff_platforms)}, not {platform}"
        for platform in settings.tickets.staff
        if platform not in staff_platforms
    ]
    return (
        startup_problems(settings) + staff + check_alerts(settings) + check_lookups(settings.shop, settings.logistics)
    )
