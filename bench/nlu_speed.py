"""Intent model speed, with and without the shipped pretrained vectors side by side: training
time on the shipped knowledge base, model load time, and prediction latency including
normalisation (p50/p99), all in one run.

    python bench/nlu_speed.py [--repeat 20000] [--train-runs 3]

Latency is per message through the same path the pipeline uses (normalise -> synonyms ->
tokenise -> fastText -> decision rule), over the knowledge base's own example texts. The first
training with vectors starts from an empty data directory, so it includes writing the vectors
file fastText reads (done once per data directory).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from bot.nlu.decide import Thresholds
from bot.nlu.engine import LoadedModel
from bot.nlu.intent_model import IntentModel, train_intent_model
from bot.nlu.knowledge import KnowledgeBase, load_knowledge_base
from bot.nlu.normalize import normalize
from bot.nlu.params import TrainParams
from bot.runtime import thresholds, train_params
from bot.runtime.settings import load_settings


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def measure(kb: KnowledgeBase, params: TrainParams, limits: Thresholds, train_runs: int, repeat: int) -> str:
    texts, labels = kb.training_pairs()
    train_s = []
    for _ in range(train_runs):
        started = time.perf_counter()
        model = train_intent_model(texts, labels, kb=kb, params=params, thresholds=limits)
        train_s.append(time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "intent.bin"
        model.save(path)
        size_mb = path.stat().st_size / 1e6
        load_s = []
        for _ in range(5):
            started = time.perf_counter()
            loaded = LoadedModel(IntentModel.load(path, limits), kb)
            load_s.append(time.perf_counter() - started)

    latencies = []
    for i in range(repeat):
        text = texts[i % len(texts)]
        started = time.perf_counter_ns()
        loaded.decide(normalize(text).text)
        latencies.append((time.perf_counter_ns() - started) / 1e3)
    latencies.sort()
    return (
        f"train first {train_s[0]:5.2f} s, median of {train_runs} {statistics.median(train_s):5.2f} s | "
        f"model {size_mb:4.1f} MB, load {statistics.median(load_s) * 1000:4.1f} ms | "
        f"predict p50 {percentile(latencies, 0.50):3.0f} us, p99 {percentile(latencies, 0.99):3.0f} us, "
        f"max {latencies[-1]:4.0f} us"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20000, help="predictions to time")
    ap.add_argument("--train-runs", type=int, default=3)
    args = ap.parse_args()
    settings = load_settings(None)
    kb = load_knowledge_base(settings.faq_path)
    limits = thresholds(settings)
    print(f"knowledge base: {len(kb.intents)} intents, {len(kb.training_pairs()[0])} examples")
    with tempfile.TemporaryDirectory() as data_dir:
        with_vectors = dataclasses.replace(train_params(settings), vectors_dir=data_dir)
        print("with pretrained vectors:   ", measure(kb, with_vectors, limits, args.train_runs, args.repeat))
    without = dataclasses.replace(train_params(settings), vectors_dir=None)
    print("without pretrained vectors:", measure(kb, without, limits, args.train_runs, args.repeat))


if __name__ == "__main__":
    main()
