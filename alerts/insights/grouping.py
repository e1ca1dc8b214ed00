"""Unanswered questions grouped by what they ask: paraphrases of one need together.

The words every question shares (greetings, particles, "请问", "可以...吗") are taken out
first, so that two questions meet on their content words, not on "能不能...吗". Two texts'
similarity is the mean of two cosines: of their TF-IDF vectors of character 1-3-grams (the same
words), and of their sentence vectors, the IDF-weighted sums of the shipped Chinese character and
bigram vectors (bot/nlu/pretrained.py; related words: 学生/校园, 注销/销户). Average-linkage
agglomerative clustering then joins texts and groups while they stay within ``DISTANCE`` of
each other on average. Each group's ``suggested_intent`` is the knowledge-base intent whose examples it
resembles most, when the resemblance reaches ``SUGGEST_SIMILARITY``.
The thresholds were tuned on bench/data/insight_grouping.csv; bench/data/insight_grouping_blind.csv
measures them on questions they were not tuned on (bench/insight_grouping.py, docs/insights.md).
This module (with numpy, SciPy and scikit-learn) is imported by the first grouping
(alerts/insights/knowledge.py), not with the server: most processes never group
(docs/benchmarks.md#memory).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize as l2_normalize

from bot.nlu.normalize import normalize
from bot.nlu.pretrained import SHIPPED
from bot.nlu.tokenize import tokens

DISTANCE = 0.72  # average distance (1 - similarity) under which texts and groups are joined
VECTOR_WEIGHT = 0.5  # the sentence vectors' share of the similarity, TF-IDF's is the rest
SUGGEST_SIMILARITY = 0.3  # least cosine similarity to an intent's examples to suggest it
MAX_TEXTS = 3000  # distinct texts clustered (the most frequent): the distances grow as its square
EXAMPLES = 5  # examples shown per group

# Words that carry the asking, not the need: removed before the n-grams are counted.
_FILLER = re.compile(
    "|".join(
        sorted(
            (
                "你好 您好 请问 问一下 问下 我想问 想问 亲 在吗 麻烦 帮我 帮忙 一下 谢谢 客服 老板 "
                "可以 可不可以 能不能 能否 能 会不会 是不是 有没有 怎么办 怎么 怎样 如何 为什么 什么 "
                "我们 我的 你们 这个 那个 这款 那款 这 那 吗 呢 啊 呀 吧 嘛 哦 么 不 了 的 得 地 我 你 是 有 "
                "还 就 都 也 要 想 会 在 给 把 被 多少 几"
            ).split(),
            key=len,
            reverse=True,
        )
    )
)


@dataclass(frozen=True, slots=True)
class Group:
    count: int
    examples: list[str]
    suggested_intent: str | None
    texts: list[str]  # every distinct text of the group, most frequent first


def content(text: str) -> str:
    """The text normalised (simplified, lower case, no punctuation) without the asking words."""
    return _FILLER.sub(" ", normalize(text).text).strip()


def _vectorizer() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, min_df=1)


def group_texts(
    texts: Sequence[str], intents: Mapping[str, Sequence[str]] | None = None, *, distance: float = DISTANCE,
    suggest_similarity: float = SUGGEST_SIMILARITY,
) -> list[Group]:  # fmt: skip
    """``texts`` in groups of the same need, largest first; ``intents`` maps each knowledge-base
    intent to its example questions (for the suggestions)."""
    counts = Counter(t.strip() for t in texts if t.strip())
    distinct = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TEXTS]]
    if not distinct:
        return []
    cleaned = [content(t) or normalize(t).text or t for t in distinct]
    intents = intents or {}
    names = [name for name, examples in intents.items() if examples]
    examples = [content(e) or e for name in names for e in intents[name]]
    vectorizer = _vectorizer().fit([*cleaned, *examples])
    vectors = vectorizer.transform(cleaned)
    labels = _clusters(_similarity(vectors, _sentence_vectors(cleaned, vectorizer)), distance)
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(int(label), []).append(i)
    suggest = _suggester(vectorizer, names, intents, suggest_similarity)
    groups = []
    for idx in members.values():
        group_texts_ = [distinct[i] for i in idx]
        centroid = np.asarray(vectors[idx].mean(axis=0))
        groups.append(
            Group(
                count=sum(counts[t] for t in group_texts_),
                examples=group_texts_[:EXAMPLES],
                suggested_intent=suggest(centroid),
                texts=group_texts_,
            )
        )
    return sorted(groups, key=lambda g: (-g.count, g.examples[0]))


@functools.cache
def _token_vectors() -> tuple[dict[str, int], np.ndarray]:
    """The shipped vectors, centred (their shared direction says nothing about a question)."""
    with np.load(SHIPPED) as npz:
        words, vectors = [str(w) for w in npz["words"]], npz["vectors"].astype(np.float64)
    return {w: i for i, w in enumerate(words)}, vectors - vectors.mean(axis=0)


def _sentence_vectors(cleaned: Sequence[str], vectorizer: TfidfVectorizer) -> np.ndarray:
    index, vectors = _token_vectors()
    idf = dict(zip(vectorizer.get_feature_names_out(), vectorizer.idf_, strict=True))
    rare = float(vectorizer.idf_.max())
    out = np.zeros((len(cleaned), vectors.shape[1]))
    for row, text in enumerate(cleaned):
        known = [t for t in tokens(text) if t in index]
        if known:
            weights = np.array([idf.get(t, rare) for t in known])
            out[row] = weights @ vectors[[index[t] for t in known]]
    return l2_normalize(out)


def _similarity(tfidf: object, sentence: np.ndarray) -> np.ndarray:
    dense = np.asarray(tfidf.todense(), dtype=np.float64)  # type: ignore[attr-defined]
    words = np.clip(dense @ dense.T, 0.0, 1.0)
    return (1 - VECTOR_WEIGHT) * words + VECTOR_WEIGHT * np.clip(sentence @ sentence.T, 0.0, 1.0)


def _clusters(similarity: np.ndarray, distance: float) -> np.ndarray:
    n = similarity.shape[0]
    if n == 1:
        return np.array([1])
    condensed = (1.0 - similarity)[np.triu_indices(n, k=1)]
    return fcluster(linkage(condensed, method="average"), t=distance, criterion="distance")


def _suggester(
    vectorizer: TfidfVectorizer, names: list[str], intents: Mapping[str, Sequence[str]], least: float
) -> Callable[[np.ndarray], str | None]:
    """A function from a group's centroid to the intent whose examples' centroid is nearest."""
    if not names:
        return lambda _: None
    centroids = np.vstack(
        [np.asarray(vectorizer.transform([content(e) or e for e in intents[n]]).mean(axis=0)) for n in names]
    )
    centroids = l2_normalize(centroids)

    def suggest(centroid: np.ndarray) -> str | None:
        scores = centroids @ l2_normalize(centroid).ravel()
        best = int(np.argmax(scores))
        return names[best] if scores[best] >= least else None

    return suggest
