"""The intent model: a fastText classifier blended with a linear one (``bot/nlu/linear.py``),
plus the knowledge base's synonyms and the thresholds.

Training and prediction share one preparation path (normalise -> synonyms -> tokenise), so the
models never see text prepared differently from what they learnt on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.nlu.classifier import ModelFileError, TextClassifier, TrainParams
from bot.nlu.decide import Decision, Thresholds, decide
from bot.nlu.knowledge import KnowledgeBase, Synonyms
from bot.nlu.linear import LinearClassifier, LinearModelError
from bot.nlu.normalize import Normalized, normalize
from bot.nlu.pretrained import VectorsUnavailable, vec_file
from bot.nlu.scope import OUT_OF_SCOPE, examples_digest, load_out_of_scope
from bot.nlu.tokenize import is_han_free, tokens

log = logging.getLogger(__name__)

MODEL_VERSION = "intent-3"  # 2: fastText blended with the linear model; 3: the out_of_scope intent


def prepare(normalized_text: str, synonyms: Synonyms) -> str:
    return " ".join(tokens(synonyms.apply(normalized_text)))


@dataclass(slots=True)
class Prediction:
    normalized: Normalized
    ranked: list[tuple[str, float]]
    decision: Decision


def linear_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".linear.npz")


@dataclass(slots=True)
class IntentModel:
    classifier: TextClassifier
    linear: LinearClassifier
    synonyms: Synonyms
    thresholds: Thresholds
    _fasttext: Callable[[str], np.ndarray] = field(init=False)  # probabilities in the linear model's label order

    def __post_init__(self) -> None:
        self._fasttext = self.classifier.scorer(self.linear.labels)

    @property
    def kb_digest(self) -> str:
        return str(self.classifier.metadata.get("kb_digest", ""))

    @property
    def out_of_scope_digest(self) -> str:
        return str(self.classifier.metadata.get("out_of_scope_digest", ""))

    @property
    def labels(self) -> list[str]:
        return list(self.linear.labels)

    @property
    def bucket(self) -> int | None:
        """The hashed slots fastText was trained with (None where the metadata does not say)."""
        bucket = self.classifier.metadata.get("params", {}).get("bucket")
        return int(bucket) if bucket is not None else None

    def rank(self, text: str, k: int = 5) -> tuple[Normalized, list[tuple[str, float]]]:
        norm = normalize(text)
        if not norm.text:
            return norm, []
        return norm, self.rank_prepared(prepare(norm.text, self.synonyms), k)

    def rank_prepared(self, prepared_text: str, k: int = 5) -> list[tuple[str, float]]:
        """The top ``k`` intents by the mean of both models' probabilities. A text whose tokens
        the linear model never saw (fastText may know them from the pretrained vectors) is
        ranked by fastText alone; one neither knows, not at all."""
        linear = self.linear.probabilities(prepared_text)
        if linear is None:
            return self.classifier.predict_prepared(prepared_text, k)
        blended = (linear + self._fasttext(prepared_text)) * 0.5
        top = np.argsort(-blended)[:k]
        return [(self.linear.labels[i], float(blended[i])) for i in top]

    def predict(self, text: str) -> Prediction:
        norm, ranked = self.rank(text)
        return Prediction(norm, ranked, decide(ranked, self.thresholds))

    def save(self, path: Path) -> None:
        """The linear model first and the fastText model last: a server reloads when the
        fastText file changes, and then finds both written. The metadata names the linear
        model's digest, so that a pair written by two different trainings is never used."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.classifier.metadata["linear_sha256"] = self.linear.save(linear_path(path))
        self.classifier.save(path)

    @classmethod
    def load(cls, path: Path, thresholds: Thresholds) -> IntentModel:
        classifier = TextClassifier.load(path)
        if classifier.metadata.get("version") != MODEL_VERSION:
            raise ModelFileError(f"{path} was trained by another version of kefu-bot: retrain")
        try:
            linear = LinearClassifier.load(linear_path(path), str(classifier.metadata.get("linear_sha256", "")))
        except LinearModelError as e:
            raise ModelFileError(str(e)) from None
        if sorted(linear.labels) != sorted(classifier.labels):
            raise ModelFileError(f"{path} and {linear_path(path)} know different intents: retrain")
        synonyms = Synonyms.of(classifier.metadata.get("synonyms", {}))
        return cls(classifier, linear, synonyms, thresholds)


def _no_larger_than_an_intent(outside: list[str], labels: Sequence[str]) -> list[str]:
    """The out-of-scope lines, evenly thinned to the size of the knowledge base's largest intent:
    a class several times larger than every shop intent would pull their questions to itself
    (a small base, 10 examples an intent, lost a third of its accuracy to 132 lines)."""
    largest = max(Counter(labels).values(), default=0)
    if len(outside) <= largest:
        return outside
    step = len(outside) / largest
    return [outside[int(i * step)] for i in range(largest)]


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
    if params.out_of_scope_file and OUT_OF_SCOPE not in labels:
        outside = _no_larger_than_an_intent(load_out_of_scope(params.out_of_scope_file), labels)
        texts, labels = [*texts, *outside], [*labels, *[OUT_OF_SCOPE] * len(outside)]
    prepared = [prepare(normalize(t).text, synonyms) for t in texts]
    vectors = _pretrained_vectors(params, prepared)
    started = time.perf_counter()
    classifier = TextClassifier.train(prepared, labels, params, prepared=True, pretrained=vectors, verbose=verbose)
    linear = LinearClassifier.train(prepared, labels)
    classifier.metadata.update(
        version=MODEL_VERSION,
        vectors=vectors.name if vectors else "",
        kb_digest=kb.digest if kb else "",
        out_of_scope_digest=examples_digest(params.out_of_scope_file) if OUT_OF_SCOPE in labels else "",
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
    return IntentModel(classifier, linear, synonyms, thresholds)


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
