"""A fastText supervised text classifier over our normalisation and tokenisation.

fastText trains from a file and is multi-threaded; we train single-threaded with a fixed seed so
that the same data gives the same model. The build is fasttext-community, which initialises the
whole input matrix (upstream 0.9.3 left most of it as whatever memory held, so a model depended on
what the process had done before; see docs/history.md). The model file sits beside a JSON file of metadata
(labels, knowledge-base hash, thresholds, version) so that a model is never used with the wrong
knowledge base or decision settings unnoticed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import fasttext
import fasttext_pybind
import numpy as np

from bot.nlu.normalize import normalize
from bot.nlu.params import ModelFileError, TrainParams, metadata_path
from bot.nlu.tokenize import tokens

_LABEL = "__label__"
FORMAT_VERSION = 1


def model_input(text: str) -> str:
    """The exact string fastText sees for a message: normalised, tokenised, space-joined."""
    return " ".join(tokens(normalize(text).text))


def raw_label(label: str) -> str:
    return _LABEL + label


@dataclass(slots=True)
class TextClassifier:
    model: Any  # fasttext.FastText._FastText
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return [label.removeprefix(_LABEL) for label in self.model.get_labels()]

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        params: TrainParams = TrainParams(),
        *,
        prepared: bool = False,
        pretrained: Path | None = None,
        verbose: int = 0,
    ) -> TextClassifier:
        """Train on parallel lists; ``prepared`` means texts already went through ``model_input``;
        ``pretrained`` is a .vec file of ``params.dim`` that initialises the token embeddings."""
        if len(texts) != len(labels) or not texts:
            raise ValueError("need the same, non-zero number of texts and labels")
        if len(set(labels)) < 2:
            raise ValueError("need at least two different labels to train a classifier")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            for text, label in zip(texts, labels):
                line = text if prepared else model_input(text)
                f.write(f"{_LABEL}{label} {line}\n")
            train_file = f.name
        try:
            model = _train_supervised(train_file, params, pretrained, verbose)
        finally:
            os.unlink(train_file)
        return cls(model=model, metadata={"params": asdict(params)})

    def predict(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        return self.predict_prepared(model_input(text), k)

    def knows_a_token(self, prepared_text: str) -> bool:
        get_word_id = self.model.get_word_id
        return any(get_word_id(token) >= 0 for token in prepared_text.split())

    def predict_prepared(self, prepared_text: str, k: int = 5) -> list[tuple[str, float]]:
        """Ranked labels; none when no token of the text is known to the model, because fastText
        would otherwise rank by its end-of-line token alone and answer gibberish confidently."""
        if not self.knows_a_token(prepared_text):
            return []
        # fastText's own call: the wrapper's numpy arrays cost as much as the prediction.
        ranked = self.model.f.predict(prepared_text + "\n", k, 0.0, "strict")
        return [(label.removeprefix(_LABEL), probability) for probability, label in ranked]

    def scorer(self, labels: Sequence[str]) -> Callable[[str], np.ndarray]:
        """A function from a prepared text to the probability of each of ``labels`` (every label
        of the model, in the caller's order).

        For a softmax model it is fastText's own sum computed here, the output matrix (its rows
        put in ``labels`` order once) times the sentence's hidden vector: one call into fastText
        and no label strings, where ``predict`` names and sorts every label on every call."""
        if sorted(labels) != sorted(self.labels):
            raise ValueError("a scorer gives every label of the model")
        if self.model.f.getArgs().loss.name != "softmax":
            index = {raw_label(label): i for i, label in enumerate(labels)}

            def by_predict(prepared_text: str) -> np.ndarray:
                raw_labels, probabilities = self.predict_raw(prepared_text)
                out = np.zeros(len(labels))
                out[[index[label] for label in raw_labels]] = probabilities
                return out

            return by_predict
        rows = {label: i for i, label in enumerate(self.model.get_labels())}
        output = np.ascontiguousarray(self.model.get_output_matrix()[[rows[raw_label(label)] for label in labels]])
        dim, model = self.model.get_dimension(), self.model.f

        def by_hidden_vector(prepared_text: str) -> np.ndarray:
            hidden = fasttext_pybind.Vector(dim)
            model.getSentenceVector(hidden, prepared_text + "\n")
            logits = output @ np.array(hidden)
            exp = np.exp(logits - logits.max())
            return exp / exp.sum()

        return by_hidden_vector

    def predict_raw(self, prepared_text: str) -> tuple[Sequence[str], Any]:
        """Every label, most probable first, as fastText names them (``raw_label``), and a numpy
        array of their probabilities: the cheap form for a caller that combines scores. Unlike
        ``predict_prepared`` it ranks a text of unknown tokens too."""
        labels, probs = self.model.predict([prepared_text], k=-1)
        return labels[0], probs[0]

    def save(self, path: Path) -> None:
        """Write the model and its metadata atomically, so a reloading server never reads half."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        self.model.save_model(str(tmp))
        meta = dict(self.metadata, labels=self.labels, format_version=FORMAT_VERSION)
        meta_tmp = metadata_path(tmp)
        meta_tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(meta_tmp, metadata_path(path))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> TextClassifier:
        if not path.exists():
            raise ModelFileError(f"model file {path} does not exist: train one with `kefu train`")
        try:
            metadata = json.loads(metadata_path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelFileError(f"{metadata_path(path)} is missing: retrain with `kefu train`") from None
        except json.JSONDecodeError as e:
            raise ModelFileError(f"{metadata_path(path)} is not valid JSON ({e}): retrain") from None
        if metadata.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(f"{path} was written by another kefu-bot version: retrain")
        try:
            model = fasttext.load_model(str(path))
        except ValueError as e:
            raise ModelFileError(f"{path} is not a fastText model ({e}): retrain") from None
        return cls(model=model, metadata=metadata)


def _train_supervised(train_file: str, params: TrainParams, pretrained: Path | None, verbose: int) -> Any:
    # fastText adds every word of the .vec file to the model's dictionary: words the examples never
    # use keep their pretrained vectors, which is what lets the model read them at all.
    extra = {"pretrainedVectors": str(pretrained)} if pretrained else {}
    return fasttext.train_supervised(
        input=train_file,
        epoch=params.epoch,
        lr=params.lr,
        dim=params.dim,
        wordNgrams=params.word_ngrams,
        minn=params.minn,
        maxn=params.maxn,
        bucket=params.bucket,
        minCount=1,
        thread=1,  # one thread: reproducible with the seed
        seed=params.seed,
        loss=params.loss,
        verbose=verbose,
        **extra,
    )
