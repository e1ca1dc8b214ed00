"""What the CLI's train, eval and ask commands do, apart from argument parsing and printing.

Training and evaluation import the model modules (fastText, numpy) when they run: every kefu
process imports the CLI, and a server process beside worker processes loads no model."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.channel import PlatformTask
from bot.gateway import task_routing_key
from bot.message import InboundMessage
from bot.nlu.knowledge import KnowledgeBaseError, load_knowledge_base, load_labelled, load_training_data
from bot.nlu.params import ModelFileError
from bot.outbox import Outbox
from bot.queue import StreamQueue
from bot.redis_store import Keys, connected
from bot.runtime import TASK_PARTITIONS, Runtime, thresholds, train_params
from bot.runtime.checks import output_problem
from bot.runtime.settings import Settings
from bot.web_chat import WEB

_TASKS = ("intent", "risk", "emotion")


def _check_task(task: str) -> None:
    if task not in _TASKS:
        raise ValueError(f"--task must be one of {', '.join(_TASKS)}, got {task!r}")


def train_command(
    settings: Settings, task: str, data: Path | None, out: Path | None, *, quick: bool = False,
    budget: float | None = None,
) -> Iterator[str]:  # fmt: skip
    """Train and save; the intent model with settings searched for its data (bot/nlu/tuning.py)
    within ``budget`` seconds (default: by the data's size), or with the fixed ones when ``quick``."""
    from alerts.risk.commands import train_risk
    from bot.nlu.intent_model import DEFAULT_BLEND, train_intent_model
    from bot.nlu.tuning import FOLDS, default_budget, search, summary

    _check_task(task)
    if out is not None and (problem := output_problem(out)):  # before minutes of training, not after
        raise ValueError(f"--out: {problem}")
    if budget is not None and (quick or task != "intent" or budget <= 0):
        raise ValueError("--budget is the intent task's search time in seconds (more than 0), without --quick")
    if task in ("risk", "emotion"):
        yield from train_risk(settings.risk, settings.data_dir, data, out, task)
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
    if out is None and (problem := output_problem(target)):
        raise ValueError(f"model_path: {problem}")
    intents = len(set(labels))
    started = time.perf_counter()
    params, limits, blend, chosen = train_params(settings), thresholds(settings), DEFAULT_BLEND, None
    if not quick:
        seconds = budget or default_budget(len(texts))
        yield (f"searching the settings for {len(texts)} examples, {intents} intents from {source}: "
               f"{FOLDS}-fold cross-validation, seed {params.seed}, up to {seconds:.0f}s (--quick: the fixed settings)")  # fmt: skip
        choice = yield from search(
            texts, labels, kb=kb, fixed=params, thresholds=limits,
            target=settings.nlu.target_answered_accuracy, budget=seconds,
        )  # fmt: skip
        chosen = choice.metadata()
        params, blend = choice.params, choice.blend
        yield f"chosen ({choice.tried} of {choice.candidates} candidates tried): {summary(chosen)}"
    yield f"training on {len(texts)} examples, {intents} intents from {source} (fastText, then the linear model)"
    model = train_intent_model(
        texts, labels, kb=kb, params=params, thresholds=limits, verbose=2, blend=blend, tuning=chosen
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
    from alerts.risk.commands import eval_risk
    from bot.nlu.crossval import cross_validate
    from bot.nlu.evaluate import evaluate, format_report
    from bot.nlu.intent_model import IntentModel
    from bot.nlu.tuning import summary

    _check_task(task)
    if task in ("risk", "emotion"):
        return eval_risk(settings.risk, settings.data_dir, data, model_path, task)
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
            report = evaluate(lambda s: model.rank(s)[1], texts, gold, set(model.labels), model.thresholds)
            report.extra["trained with"] = summary(model.tuning) if model.tuning else "the fixed settings (--quick)"
            title = f"evaluation of {path} on {data}"
    except (KnowledgeBaseError, ModelFileError) as e:
        raise ValueError(str(e)) from None
    return report.to_dict(), format_report(report, title)


async def ask_command(settings: Settings, text: str, user: str) -> dict[str, Any]:
    """One message of ``web:<user>``, the built-in web channel's customer, as ``/api/chat`` has it:
    the same conversation and, with a shop configured, the same orders."""
    try:
        runtime = Runtime.start(settings)
    except (KnowledgeBaseError, ModelFileError) as e:
        raise ValueError(str(e)) from None
    try:
        msg = InboundMessage(
            channel=WEB, app="default", conversation_id=user, sender_id=user, text=text,
            message_id=f"cli-{time.time_ns()}", sent_at=time.time(),
        )  # fmt: skip
        reply = await runtime.pipeline.handle(msg)
        return {"reply": reply.text, **{k: v for k, v in asdict(reply).items() if k != "text"}}
    finally:
        await runtime.close()


DEAD_LETTER_SOURCES = ("inbox", "tasks", "outbox")


def _inbox_routing(payload: str) -> str:
    """The customer's partition, as the gateway chose it; one shared lane for what does not parse."""
    try:
        return InboundMessage.from_json(payload).customer_key
    except (ValueError, TypeError):
        return "dead-letters"


def _task_routing(payload: str) -> str:
    try:
        return task_routing_key(PlatformTask(**json.loads(payload)))
    except (ValueError, TypeError):
        return "dead-letters"


def _parked(source: str, entry: dict[str, str]) -> dict[str, Any]:
    """A parked queue entry for the shell: its source, the payload (parsed when it is JSON), the error."""
    try:
        payload: Any = json.loads(entry["d"])
    except ValueError:
        payload = entry["d"]
    return {"source": source, "m": payload, "error": entry.get("error", "")}


async def dead_letters_command(settings: Settings, action: str) -> list[dict[str, Any]] | int:
    """``kefu dead-letters list`` (every parked entry, each with its ``source``: inbox, tasks or
    outbox) or ``replay`` (how many were queued again)."""
    if action not in ("list", "replay"):
        raise ValueError(f"expected list or replay, got {action!r}")
    async with connected(settings.redis_url, settings.data_dir) as redis:
        keys = Keys(settings.key_prefix)
        inbox = StreamQueue(redis, keys, "inbox", settings.server.partitions)
        tasks = StreamQueue(redis, keys, "tasks", TASK_PARTITIONS)
        outbox = Outbox(redis, keys, settings.server.partitions)
        if action == "replay":
            return (
                await inbox.replay_dead(_inbox_routing) + await tasks.replay_dead(_task_routing)
                + await outbox.replay_dead()
            )  # fmt: skip
        return (
            [_parked("inbox", e) for e in await inbox.dead_letters()]
            + [_parked("tasks", e) for e in await tasks.dead_letters()]
            + [{"source": "outbox", **e} for e in await outbox.dead_letters()]
        )
