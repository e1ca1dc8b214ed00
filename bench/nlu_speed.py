"""Intent model speed: training time on the shipped knowledge base, model load time, and
prediction latency including normalisation (p50/p99), all in one run.

    python bench/nlu_speed.py [--repeat 20000]

Latency is per message through the same path the pipeline uses (normalise -> synonyms ->
tokenise -> fastText -> decision rule), over the knowledge base's own example texts.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bot.nlu.engine import LoadedModel
from bot.nlu.intent_model import IntentModel, train_intent_model
from bot.nlu.knowledge import load_knowledge_base
from bot.nlu.normalize import normalize
from bot.runtime import thresholds, train_params
from bot.settings import load_settings


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20000, help="predictions to time")
    ap.add_argument("--train-runs", type=int, default=3)
    args = ap.parse_args()
    settings = load_settings(None)
    kb = load_knowledge_base(settings.faq_path)
    texts, labels = kb.training_pairs()

    train_s = []
    for _ in range(args.train_runs):
        started = time.perf_counter()
        model = train_intent_model(texts, labels, kb=kb, params=train_params(settings), thresholds=thresholds(settings))
        train_s.append(time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "intent.bin"
        model.save(path)
        size_mb = path.stat().st_size / 1e6
        load_s = []
        for _ in range(5):
            started = time.perf_counter()
            loaded = LoadedModel(IntentModel.load(path, thresholds(settings)), kb)
            load_s.append(time.perf_counter() - started)

    samples = [texts[i % len(texts)] for i in range(args.repeat)]
    latencies = []
    for text in samples:
        started = time.perf_counter_ns()
        loaded.decide(normalize(text).text)
        latencies.append((time.perf_counter_ns() - started) / 1e6)
    latencies.sort()
    print(f"knowledge base: {len(kb.intents)} intents, {len(texts)} examples; model file {size_mb:.1f} MB")
    print(f"training time (median of {args.train_runs}): {statistics.median(train_s):.2f} s")
    print(f"model load time incl. knowledge base titles (median of 5): {statistics.median(load_s) * 1000:.1f} ms")
    print(
        f"predict latency incl. normalisation over {len(latencies)} messages: "
        f"p50 {percentile(latencies, 0.50) * 1000:.0f} us, p99 {percentile(latencies, 0.99) * 1000:.0f} us, "
        f"max {latencies[-1] * 1000:.0f} us"
    )


if __name__ == "__main__":
    main()
