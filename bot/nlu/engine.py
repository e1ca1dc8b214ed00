"""The intent engine the server uses: the knowledge base and its model, reloaded on change.

A reload builds the new model completely and then swaps one reference, so requests in flight
finish on the old model and none is dropped. A changed knowledge base is retrained in a thread
(a few seconds) while the old model keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bot import replies
from bot.nlu.decide import Decision, Thresholds, decide
from bot.nlu.knowledge import KnowledgeBase, load_knowledge_base
from bot.nlu.normalize import normalize
from bot.nlu.params import ModelFileError, TrainParams
from bot.nlu.scope import examples_digest
from bot.settings.reload import mtime

if TYPE_CHECKING:
    from bot.nlu.intent_model import IntentModel

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LoadedModel:
    model: IntentModel
    kb: KnowledgeBase | None
    normalized_titles: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kb is not None:
            self.normalized_titles = {n: normalize(i.title).text for n, i in self.kb.intents.items()}

    def decide(self, normalized_text: str) -> Decision:
        if not normalized_text:
            return decide([], self.model.thresholds)
        return decide(self.model.rank_normalized(normalized_text), self.model.thresholds)

    def answer(self, intent: str | None, order_no: str = "") -> str:
        found = self.kb.intents.get(intent or "") if self.kb else None
        if found is None:
            return replies.FALLBACK  # a label the knowledge base has no answer for
        # Answers may mention the order the customer gave earlier in the conversation.
        return found.answer.replace("{order_no}", order_no or "您的订单")

    def title(self, intent: str) -> str:
        found = self.kb.intents.get(intent) if self.kb else None
        return found.title if found else intent


class IntentEngine:
    def __init__(self, kb_path: Path, model_path: Path, params: TrainParams, thresholds: Thresholds) -> None:
        self.kb_path = kb_path
        self.model_path = model_path
        self.params = params
        self.thresholds = thresholds
        self._stamp = (0.0, 0.0)
        self._current: LoadedModel | None = None

    @property
    def current(self) -> LoadedModel:
        if self._current is None:
            raise RuntimeError("intent engine not loaded: call load() first")
        return self._current

    @property
    def ready(self) -> bool:
        return self._current is not None

    def load(self) -> LoadedModel:
        """Load the model for the knowledge base, training it first when missing or stale."""
        # Imported here: fastText and numpy come with the first model, so that a process that
        # never loads one (an HTTP process beside worker processes) does without them.
        from bot.nlu.intent_model import DEFAULT_BLEND, IntentModel, train_intent_model
        from bot.nlu.tuning import searched_params

        stamp = (mtime(self.kb_path), mtime(self.model_path))
        kb = load_knowledge_base(self.kb_path)
        try:
            model = IntentModel.load(self.model_path, self.thresholds)
            # "" means trained from a CSV on purpose. A base's model also follows the out-of-scope
            # examples, and one trained with other hashed slots (an upgrade that changed the
            # default, or nlu.bucket) is retrained: the model's size follows the setting.
            stale = model.kb_digest not in ("", kb.digest) or (
                model.kb_digest != ""
                and (
                    model.out_of_scope_digest != examples_digest(self.params.out_of_scope_file)
                    or model.bucket not in (None, self.params.bucket)
                )
            )
        except ModelFileError as e:
            log.info("no usable intent model (%s): training from %s", e, self.kb_path)
            model, stale = None, True
        if model is None or stale:
            texts, labels = kb.training_pairs()
            params, blend, tuning = self.params, DEFAULT_BLEND, model.tuning if model else {}
            if tuning:  # what the last `kefu train` searched for this shop, kept until the next search
                params, blend = searched_params(tuning, self.params), float(tuning["blend"])
                tuning["carried_over"] = True
            model = train_intent_model(
                texts, labels, kb=kb, params=params, thresholds=self.thresholds, blend=blend, tuning=tuning
            )
            model.save(self.model_path)
            stamp = (stamp[0], mtime(self.model_path))
        self._current = LoadedModel(model, kb)
        self._stamp = stamp
        return self._current

    def changed(self) -> bool:
        return (mtime(self.kb_path), mtime(self.model_path)) != self._stamp

    async def watch(self, interval: float = 2.0) -> None:
        """Reload in the background whenever the knowledge base or the model file changes."""
        while True:
            await asyncio.sleep(interval)
            if not self.changed():
                continue
            try:
                await asyncio.to_thread(self.load)
                log.info("intent model reloaded (%s)", self.model_path)
            except Exception as e:  # a broken edit must not take the running bot down
                self._stamp = (mtime(self.kb_path), mtime(self.model_path))
                log.error("reload failed, keeping the previous model: %s", e)
