"""The fastText build kefu depends on: what made its old workarounds unnecessary still holds.

bot/nlu/classifier.py once pinned glibc's mmap threshold so that upstream fastText 0.9.3's
uninitialised embedding rows read as zero, and retried a diverged training in a fresh process.
fasttext-community initialises every row, so a model no longer depends on the process's history.
"""

from __future__ import annotations

import ctypes
import hashlib
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.nlu.classifier import TextClassifier
from bot.nlu.params import TrainParams

TEXTS = ["快递到哪了", "包裹在哪", "物流查一下", "退款多久到", "钱还没退", "退款进度", "你好", "在吗"]
LABELS = ["parcel"] * 3 + ["refund"] * 3 + ["greeting"] * 2
SMALL = TrainParams(epoch=1, dim=13, bucket=1_000, seed=7)


def test_every_input_row_starts_random() -> None:
    """With lr=0 the input matrix stays as initialised: every value random in (-1/dim, 1/dim),
    none left at zero or at what the memory held."""
    clf = TextClassifier.train(TEXTS, LABELS, replace(SMALL, lr=0.0))
    matrix = clf.model.get_input_matrix()
    bound = np.float32(1.0 / SMALL.dim)
    assert np.isfinite(matrix).all()
    assert (matrix != 0).all(), f"{int((matrix == 0).sum())} of {matrix.size} values never initialised"
    assert (np.abs(matrix) <= bound).all()


def _model_digest(tmp: Path) -> str:
    path = tmp / "m.bin"
    TextClassifier.train(TEXTS, LABELS, SMALL).model.save_model(str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_dirty_heap_trains_the_same_model(tmp_path: Path) -> None:
    """Freed blocks full of huge floats, kept in the heap for reuse, change nothing."""
    clean = _model_digest(tmp_path)
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: freed blocks stay in the heap
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks below 32 MB come from the heap
    keep = []
    for size in (64 << 10, 256 << 10, 1 << 20):
        block = libc.malloc(size)
        ctypes.memset(block, 0x7F, size)  # each float 0x7f7f7f7f: about 3.4e38
        keep.append(libc.malloc(64))  # so the freed block is not at the top of the heap
        libc.free(ctypes.c_void_p(block))
    try:
        assert _model_digest(tmp_path) == clean
    finally:
        libc.mallopt(-3, 128 << 10)
        for block in keep:
            libc.free(ctypes.c_void_p(block))
