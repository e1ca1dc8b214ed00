"""What the CLI's train, eval and ask commands do, apart from argument parsing and printing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.message import InboundMessage
from bot.nlu.classifier import ModelFileError
from bot.nlu.crossval import cross_validate
from bot.nlu.evaluate import evaluate, format_report
from bot.nlu.intent_model import IntentModel, train_intent_model
from bot.nlu.knowledge import KnowledgeBaseError, load_knowledge_base, load_labelled, load_training_data
from bot.runtime import Runtime, thresholds, train_params
from bot.settings import Settings

_TASKS = ("intent", "risk")


def _check_task(task: str) -> None:
    if task not in _TASKS:
        raise ValueError(f"--task must be one of {', '.join(_TASKS)}, got {task!r}")


def train_command(settings: Settings, task: str, data: Path | None, out: Path | None) -> Iterator[str]:
    _check_task(task)
    if task == "risk":
        from alerts.risk.commands import train_risk

        yield from train_risk(settings, data, out)
        return
    source = data or settings.faq_path
    try:
        texts, labels, kb = load_training_data(source)
    except KnowledgeBaseError as e:
        raise ValueError(str(e)) from None
    if kb is None:
        # A labelled CSV: the model keeps no knowledge-base digest, so the server uses it as it is
        # (never retrains it away); answers still come from the configured knowledge base.
        unknown = sorted(set(labels) - _answered_intents(settings))
        if unknown:
            yield f"warning: {len(unknown)} intent(s) have no answer in {settings.faq_path}: {', '.join(unknown[:10])}"
    target = out or settings.intent_model_path
    intents = len(set(labels))
    yield f"training on {len(texts)} examples, {intents} intents from {source} (fastText, then the linear model)"
    started = time.perf_counter()
    model = train_intent_model(
        texts, labels, kb=kb, params=train_params(settings), thresholds=thresholds(settings), verbose=2
    )
    model.save(target)
    yield f"saved {target} in {time.perf_counter() - started:.1f}s"


def _answered_intents(settings: Settings) -> set[str]:
    try:
        return set(load_knowledge_base(settings.faq_path).intents)
    except KnowledgeBaseError:
        return set()


def eval_command(
    settings: Settings, task: str, data: Path, model_path: Path | None, folds: int
) -> tuple[dict[str, Any], str]:
    _check_task(task)
    if task == "risk":
        from alerts.risk.commands import eval_risk

        return eval_risk(settings, data, model_path)
    t = thresholds(settings)
    try:
        if data.suffix.lower() in (".yaml", ".yml"):
            # Never judge a model on the examples it learnt: a knowledge base is cross-validated.
            kb = load_knowledge_base(data)
            report = cross_validate(kb, train_params(settings), t, k=folds)
            title = f"{folds}-fold cross-validation of {data} (each example judged by a model that never saw it)"
        else:
            texts, gold = load_labelled(data)
            path = model_path or settings.intent_model_path
            model = IntentModel.load(path, t)
            report = evaluate(lambda s: model.rank(s)[1], texts, gold, set(model.labels), t)
            title = f"evaluation of {path} on {data}"
    except (KnowledgeBaseError, ModelFileError) as e:
        raise ValueError(str(e)) from None
    return report.to_dict(), format_report(report, title)


async def ask_command(settings: Settings, text: str, user: str) -> dict[str, Any]:
    try:
        runtime = Runtime.start(settings)
    except (KnowledgeBaseError, ModelFileError) as e:
        raise ValueError(str(e)) from None
    try:
        msg = InboundMessage(
            channel="cli", app="default", conversation_id=user, sender_id=user, text=text,
            message_id=f"cli-{time.time_ns()}", sent_at=time.time(),
        )  # fmt: skip
        reply = await runtime.pipeline.handle(msg)
        return {"reply": reply.text, **{k: v for k, v in asdict(reply).items() if k != "text"}}
    finally:
        await runtime.close()


async def dead_letters_command(settings: Settings, action: str) -> list[dict[str, Any]] | int:
    """``kefu dead-letters list`` (the entries) or ``replay`` (how many were queued again)."""
    from bot.outbox import Outbox
    from bot.redis_store import Keys, connected

    if action not in ("list", "replay"):
        raise ValueError(f"expected list or replay, got {action!r}")
    async with connected(settings.redis_url, settings.data_dir) as redis:
        outbox = Outbox(redis, Keys(settings.key_prefix), settings.server.partitions)
        return await outbox.dead_letters() if action == "list" else await outbox.replay_dead()
