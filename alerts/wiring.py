"""Plugs the alerts features into a runtime's ports: risk scoring, staff notifications, tickets."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from alerts.risk.assessor import ScorerAssessor, watch_emotion_model
from alerts.risk.emotion import model_path_for
from alerts.risk.scorer import RiskScorer

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def install(runtime: "Runtime") -> None:
    settings = runtime.settings
    if settings.risk.enabled:
        scorer = RiskScorer.from_settings(settings.risk, settings.data_dir)
        runtime.pipeline.p.risk = ScorerAssessor(scorer)
        model_path = model_path_for(settings.risk.emotion, settings.data_dir)
        runtime.watchers.append(lambda: watch_emotion_model(scorer, model_path))
        runtime.settings_listeners.append(lambda new: scorer.update(new.risk))
    from adapters.robots import create_sender  # noqa: PLC0415 (robot receivers' webhook senders)
    from alerts.notify import install as install_notify  # noqa: PLC0415
    from alerts.notify import install_chat

    install_notify(runtime, create_sender)
    from alerts.tickets import install as install_tickets  # noqa: PLC0415

    install_tickets(runtime)
    install_chat(runtime)  # /silence in front of the tickets' staff commands
