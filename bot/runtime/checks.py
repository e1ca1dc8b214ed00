"""``kefu check-config``: problems a schema cannot see (files that must exist, channel fields
that only make sense together)."""

from __future__ import annotations

from adapters import PLATFORMS
from bot.nlu.knowledge import KnowledgeBaseError, load_knowledge_base
from bot.settings import Settings
from bot.settings.lookups import check_lookups


def check_settings(settings: Settings) -> list[str]:
    problems: list[str] = []
    try:
        load_knowledge_base(settings.faq_path)
    except KnowledgeBaseError as e:
        problems.append(f"knowledge_base: {e}")
    for platform in ("wecom", "wechat"):
        for name, app in settings.channels.apps_of(platform).items():
            key = app.encoding_aes_key.get_secret_value()  # type: ignore[attr-defined]
            if key and len(key) != 43:
                problems.append(
                    f"channels.{platform}{'' if name == 'default' else '.apps.' + name}"
                    f".encoding_aes_key: must be 43 characters, got {len(key)}"
                )
    staff_platforms = sorted(spec.name for spec in PLATFORMS if spec.staff_channel)
    problems += [f"tickets.staff.{platform}: staff work on {', '.join(staff_platforms)}, not {platform}"
                 for platform in settings.tickets.staff if platform not in staff_platforms]  # fmt: skip
    from alerts.notify.checks import check_alerts

    problems += check_alerts(settings)
    problems += check_lookups(settings)
    return problems
