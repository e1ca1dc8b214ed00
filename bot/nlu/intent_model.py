"""The intent model: a fastText classifier blended with a linear one (``bot/nlu/linear.py``),
plus the knowledge base's synonyms and the thresholds.

Training and prediction share one preparation path (normalise -> synonyms -> tokenise), so the
models never see text prepared differently from what they learnt on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bot.nlu.classifier import TextClassifier
from bot.nlu.decide import Decision, Thresholds, decide
from bot.nlu.knowledge import KnowledgeBase, Synonyms
from bot.nlu.linear import LinearClassifier, LinearModelError
from bot.nlu.normalize import Normalized, normalize
from bot.nlu.params import ModelFileError, TrainParams
from bot.nlu.pretrained import VectorsUnavailable, vec_file
from bot.nlu.scope import OUT_OF_SCOPE, examples_digest, load_out_of_scope
from bot.nlu.tokenize import is_han_free, tokens

log = logging.getLogger(__name__)

MODEL_VERSION = "intent-3"  # 2: fastText blended with the linear model; 3: the out_of_scope intent
DEFAULT_BLEND = 0.5  # fastText's weight in the blend when training chose none (``--quick``)


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
    def blend(self) -> float:
        """fastText's weight against the linear model's, as training chose it."""
        return float(self.classifier.metadata.get("blend", DEFAULT_BLEND))

    @property
    def tuning(self) -> dict[str, Any]:
        """What the settings search of ``kefu train`` chose and its cross-validated estimate; empty
        for a model trained with the fixed settings."""
        return dict(self.classifier.metadata.get("tuning") or {})

    def fasttext_probabilities(self, prepared_text: str) -> np.ndarray:
        """fastText's probability of every intent, in ``labels`` order."""
        return self._fasttext(prepared_text)

    @property
    def bucket(self) -> int | None:
        """The hashed slots fastText was trained with (None where the metadata does not say)."""
        bucket = self.classifier.metadata.get("params", {}).get("bucket")
        return int(bucket) if bucket is not None else None

    def rank(self, text: str, k: int = 5) -> tuple[Normalized, list[tuple[str, float]]]:
        norm = normalize(text)
        if not norm.text:
            return norm, []
        return norm, self.rank_normalized(norm.text, k)

    def rank_normalized(self, normalized_text: str, k: int = 5) -> list[tuple[str, float]]:
        """``rank`` for a text already normalised (the pipeline normalises each message once)."""
        return self.rank_prepared(prepare(normalized_text, self.synonyms), k)

    def rank_prepared(self, prepared_text: str, k: int = 5) -> list[tuple[str, float]]:
        """The top ``k`` intents by both models' probabilities, weighted by ``blend``. A text whose
        tokens the linear model never saw (fastText may know them from the pretrained vectors) is
        ranked by fastText alone; one neither knows, not at all."""
        linear = self.linear.probabilities(prepared_text)
        if linear is None:
            return self.classifier.predict_prepared(prepared_text, k)
        return top_k(self.linear.labels, blended(linear, self._fasttext(prepared_text), self.blend), k)

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
        """The saved model; with ``thresholds.from_model``, answering at the answer threshold and
        margin its training chose (where it chose them)."""
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
        return cls(classifier, linear, synonyms, serving_thresholds(thresholds, classifier.metadata.get("tuning")))


def serving_thresholds(configured: Thresholds, tuning: Mapping[str, Any] | None) -> Thresholds:
    """The thresholds a model answers at: with ``configured.from_model``, the answer threshold and
    margin a settings search chose (``tuning``, where there was one), else the configured ones."""
    chosen = (tuning or {}).get("thresholds")
    if not configured.from_model or not chosen:
        return configured
    return replace(configured, answer=float(chosen["answer"]), margin=float(chosen["margin"]))


def blended(linear: np.ndarray, fasttext: np.ndarray, fasttext_weight: float) -> np.ndarray:
    """Both models' probabilities (same label order) mixed with fastText's weight."""
    return linear * (1.0 - fasttext_weight) + fasttext * fasttext_weight


def top_k(labels: Sequence[str], probabilities: np.ndarray, k: int) -> list[tuple[str, float]]:
    top = np.argsort(-probabilities, kind="stable")[:k]
    return [(labels[i], float(probabilities[i])) for i in top]


def _no_larger_than_an_intent(outside: list[str], labels: Sequence[str]) -> list[str]:
    """The out-of-scope lines, evenly thinned to the size of the knowledge base's largest intent:
    a class several times larger than every shop intent would pull their questions to itself
    (a small base, 10 examples an intent, lost a third of its accuracy to 132 lines)."""
    largest = max(Counter(labels).values(), default=0)
    if len(outside) <= largest:
        return outside
    step = len(outside) / largest
    return [outside[int(i * step)] for i in range(largest)]


def out_of_scope_examples(params: TrainParams, labels: Sequence[str]) -> list[str]:
    """The out-of-scope lines to learn beside examples of ``labels`` (none when not configured, or
    when the data labels its own)."""
    if not params.out_of_scope_file or OUT_OF_SCOPE in labels:
        return []
    return _no_larger_than_an_intent(load_out_of_scope(params.out_of_scope_file), labels)


def train_intent_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    kb: KnowledgeBase | None,
    params: TrainParams,
    thresholds: Thresholds,
    verbose: int = 0,
    blend: float = DEFAULT_BLEND,
    tuning: dict[str, Any] | None = None,
) -> IntentModel:
    """Train both models; ``blend`` is fastText's weight, ``tuning`` what a settings search chose
    (bot/nlu/tuning.py), kept in the metadata."""
    synonyms = kb.synonyms if kb else Synonyms()
    thresholds = serving_thresholds(thresholds, tuning)
    outside = out_of_scope_examples(params, labels)
    texts, labels = [*texts, *outside], [*labels, *[OUT_OF_SCOPE] * len(outside)]
    prepared = [prepare(normalize(t).text, synonyms) for t in texts]
    vectors = pretrained_vectors(params, prepared)
    started = time.perf_counter()
    classifier = TextClassifier.train(prepared, labels, params, prepared=True, pretrained=vectors, verbose=verbose)
    linear = LinearClassifier.train(prepared, labels)
    classifier.metadata.update(
        version=MODEL_VERSION,
        blend=blend,
        tuning=tuning or {},
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


def pretrained_vectors(params: TrainParams, prepared: Sequence[str]) -> Path | None:
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
