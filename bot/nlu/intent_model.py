"""The intent model: a fastText classifier plus the knowledge base's synonyms and the thresholds.

Training and prediction share one preparation path (normalise -> synonyms -> tokenise), so the
model never sees text prepared differently from what it learnt on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.nlu.classifier import TextClassifier, TrainParams
from bot.nlu.decide import Decision, Thresholds, decide
from bot.nlu.knowledge import KnowledgeBase, Synonyms
from bot.nlu.normalize import Normalized, normalize
from bot.nlu.pretrained import VectorsUnavailable, vec_file
from bot.nlu.tokenize import is_han_free, tokens

log = logging.getLogger(__name__)

MODEL_VERSION = "intent-1"


def prepare(normalized_text: str, synonyms: Synonyms) -> str:
    return " ".join(tokens(synonyms.apply(normalized_text)))


@dataclass(slots=True)
class Prediction:
    normalized: Normalized
    ranked: list[tuple[str, float]]
    decision: Decision


@dataclass(slots=True)
class IntentModel:
    classifier: TextClassifier
    synonyms: Synonyms
    thresholds: Thresholds

    @property
    def kb_digest(self) -> str:
        return str(self.classifier.metadata.get("kb_digest", ""))

    def rank(self, text: str, k: int = 5) -> tuple[Normalized, list[tuple[str, float]]]:
        norm = normalize(text)
        if not norm.text:
            return norm, []
        return norm, self.classifier.predict_prepared(prepare(norm.text, self.synonyms), k)

    def predict(self, text: str) -> Prediction:
        norm, ranked = self.rank(text)
        return Prediction(norm, ranked, decide(ranked, self.thresholds))

    def save(self, path: Path) -> None:
        self.classifier.save(path)

    @classmethod
    def load(cls, path: Path, thresholds: Thresholds) -> "IntentModel":
        classifier = TextClassifier.load(path)
        synonyms = Synonyms.of(classifier.metadata.get("synonyms", {}))
        return cls(classifier, synonyms, thresholds)


def train_intent_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    kb: KnowledgeBase | None,
    params: TrainParams,
    thresholds: Thresholds,
    verbose: int = 0,
) -> IntentModel:
    synonyms = kb.synonyms if kb else Synonyms()
    prepared = [prepare(normalize(t).text, synonyms) for t in texts]
    vectors = _pretrained_vectors(params, prepared)
    started = time.perf_counter()
    classifier = TextClassifier.train(prepared, labels, params, prepared=True, pretrained=vectors, verbose=verbose)
    classifier.metadata.update(
        version=MODEL_VERSION,
        vectors=vectors.name if vectors else "",
        kb_digest=kb.digest if kb else "",
        synonyms=synonyms.table,
        thresholds={
            "answer": thresholds.answer,
            "margin": thresholds.margin,
            "clarify": thresholds.clarify,
        },
        n_examples=len(texts),
        trained_at=time.time(),
        train_seconds=round(time.perf_counter() - started, 3),
    )
    return IntentModel(classifier, synonyms, thresholds)


def _pretrained_vectors(params: TrainParams, prepared: Sequence[str]) -> Path | None:
    """The Chinese vectors when configured and the examples have Chinese in them (English ones
    have no use for them). Vectors that cannot be used are logged and the model trains without
    them: a bot that answers a little worse beats a bot that does not start."""
    if params.vectors_dir is None or all(is_han_free(text) for text in prepared):
        return None
    try:
        return vec_file(Path(params.vectors_dir), params.dim)
    except (VectorsUnavailable, OSError) as e:
        log.warning("training the intent model without pretrained vectors: %s", e)
        return None
