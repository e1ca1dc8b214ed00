"""A logistic-regression classifier over the same tokens fastText sees, blended with it.

fastText squeezes every token into a 64-dimensional embedding; a full-rank linear model keeps a
weight per token and intent, and on a few thousand short examples that reads one-off
phrasings better (measured in docs/evaluation.md: 5-fold CV and the blind held-out set). Averaging the two
models' probabilities beats either alone.

scikit-learn trains it (TF-IDF with sublinear counts, multinomial logistic regression); a
prediction is computed here with numpy from the learnt arrays, because scikit-learn's own
transform and predict_proba cost some 200 µs of per-call overhead for one short message.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Weak regularisation: the examples are short and each token is evidence worth keeping.
INVERSE_REGULARISATION = 100.0


class LinearModelError(Exception):
    """A linear model file that is missing or unreadable."""


@dataclass(frozen=True, slots=True)
class LinearClassifier:
    labels: tuple[str, ...]
    vocabulary: dict[str, int]
    idf: np.ndarray  # (tokens,)
    weights: np.ndarray  # (tokens, labels)
    bias: np.ndarray  # (labels,)

    @classmethod
    def train(
        cls,
        prepared_texts: Sequence[str],
        labels: Sequence[str],
        *,
        c: float = INVERSE_REGULARISATION,
        min_df: int = 1,
    ) -> LinearClassifier:
        """Fit on texts already prepared for fastText (space-separated tokens). ``c`` is the inverse
        regularisation; ``min_df`` drops tokens seen in fewer texts (a smaller model on large corpora)."""
        # Imported here: only training needs scikit-learn, and it takes a while to import.
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        vectorizer = TfidfVectorizer(analyzer=str.split, sublinear_tf=True, min_df=min_df, dtype=np.float64)
        features = vectorizer.fit_transform(prepared_texts)
        # One BLAS thread: on the shipped base, 1.8 s against 3.8 s with two threads on two
        # cores (the problem is too small to share), and a server's other work keeps its core.
        with threadpool_limits(limits=1):
            model = LogisticRegression(C=c, max_iter=3000).fit(features, labels)
        weights, bias = model.coef_.T, model.intercept_
        if len(model.classes_) == 2:
            # Two classes get one logit, for the second; as a softmax, the first's is zero.
            weights, bias = np.hstack([np.zeros_like(weights), weights]), np.hstack([[0.0], bias])
        return cls(
            labels=tuple(str(label) for label in model.classes_),
            vocabulary={token: int(i) for token, i in vectorizer.vocabulary_.items()},
            idf=vectorizer.idf_.astype(np.float32),
            weights=np.ascontiguousarray(weights, dtype=np.float32),
            bias=np.asarray(bias, dtype=np.float32),
        )

    def probabilities(self, prepared_text: str) -> np.ndarray | None:
        """One probability per label (in ``labels`` order); None when no token is known."""
        counts = Counter(i for i in map(self.vocabulary.get, prepared_text.split()) if i is not None)
        if not counts:
            return None
        rows = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        x = (1.0 + np.log(tf)) * self.idf[rows]  # TfidfVectorizer's sublinear tf times idf
        x /= np.sqrt(x @ x)  # then L2 normalised
        logits = x @ self.weights[rows] + self.bias
        exp = np.exp(logits - logits.max())
        return exp / exp.sum()

    def save(self, path: Path) -> str:
        """Write atomically (the server may be reloading beside us); returns the file's SHA-256,
        for ``load`` to check that it reads the file a given training wrote."""
        tokens = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        buffer = io.BytesIO()
        np.savez(buffer, labels=np.array(self.labels), tokens=np.array(tokens, dtype=str),
                 idf=self.idf, weights=self.weights, bias=self.bias)  # fmt: skip
        data = buffer.getvalue()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: Path, sha256: str | None = None) -> LinearClassifier:
        """The model in ``path``; with ``sha256``, only if the file is the one ``save`` said."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise LinearModelError(f"{path} is missing: retrain with `kefu train`") from None
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                tokens = arrays["tokens"].tolist()
                model = cls(
                    labels=tuple(arrays["labels"].tolist()),
                    vocabulary={token: i for i, token in enumerate(tokens)},
                    idf=arrays["idf"],
                    weights=arrays["weights"],
                    bias=arrays["bias"],
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise LinearModelError(f"{path} is not a kefu linear model ({type(e).__name__}): retrain") from None
        if model.weights.shape != (len(tokens), len(model.labels)) or model.idf.shape != (len(tokens),):
            raise LinearModelError(f"{path} has inconsistent arrays: retrain")
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise LinearModelError(f"{path} belongs to another training than the model beside it: retrain")
        return model
