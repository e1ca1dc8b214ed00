"""What the model modules share and what a process that holds no model still needs: the
training settings, the error for a model file that cannot be used, and where a model's metadata
sits. Free of fastText and numpy, so that an HTTP process beside worker processes imports
neither (about 12 MiB it would hold for nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class TrainParams:
    epoch: int = 60
    lr: float = 0.5
    dim: int = 64
    word_ngrams: int = 2
    minn: int = 2
    maxn: int = 4
    seed: int = 42
    loss: str = "softmax"  # or "ova": one-vs-all, an independent probability per intent
    # Hashed slots for character n-grams and word pairs; the model's file and memory grow with
    # (words + bucket) * dim. Sized by measurement on the shipped knowledge base (docs/evaluation.md).
    bucket: int = 20_000
    # Where the shipped pretrained vectors are written for fastText (bot/nlu/pretrained.py);
    # None: embeddings learnt from the examples alone.
    vectors_dir: str | None = None
    # Lines of chit-chat and general questions trained as the intent ``out_of_scope``
    # (bot/nlu/scope.py); None: none, every message is read as a shop question.
    out_of_scope_file: str | None = None


class ModelFileError(Exception):
    """A model file that is missing, unreadable or does not belong to this version."""


def metadata_path(model_path: Path) -> Path:
    return model_path.with_suffix(model_path.suffix + ".json")
