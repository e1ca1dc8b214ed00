"""Few-shot starts: accuracy against examples per intent. A new shop begins with 10-20 examples an
intent; this trains the intent model as the server would on k examples of each shipped intent
(a seeded sample, several seeds) and scores it on the blind held-out queries, which no knowledge
base example copies.

    python bench/fewshot.py [--shots 5 10 20 0] [--seeds 2] [--data tests/data/faq_heldout.csv]

``0`` means every example. Prints accuracy (top-1) and the share answered at the default
thresholds with its accuracy, the median over seeds and each seed's figure.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

from bot.nlu.evaluate import evaluate
from bot.nlu.intent_model import train_intent_model
from bot.nlu.knowledge import load_knowledge_base, load_labelled
from bot.runtime import thresholds, train_params
from bot.runtime.settings import load_settings


def sample(texts: list[str], labels: list[str], shots: int, seed: int) -> tuple[list[str], list[str]]:
    """``shots`` examples of every intent (all of them when it has fewer, or when shots is 0)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, label in zip(texts, labels):
        by_intent[label].append(text)
    rng = random.Random(seed)
    out_texts, out_labels = [], []
    for label, examples in sorted(by_intent.items()):
        chosen = examples if shots == 0 or len(examples) <= shots else rng.sample(examples, shots)
        out_texts += chosen
        out_labels += [label] * len(chosen)
    return out_texts, out_labels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=int, nargs="+", default=[5, 10, 20, 0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--data", type=Path, default=Path("tests/data/faq_heldout.csv"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(None).model_copy(update={"data_dir": Path(data_dir)})
        kb = load_knowledge_base(settings.faq_path)
        texts, labels = kb.training_pairs()
        held_texts, held_gold = load_labelled(args.data)
        params, limits = train_params(settings), thresholds(settings)
        for shots in args.shots:
            runs = []
            for seed in range(1, args.seeds + 1):
                train_texts, train_labels = sample(texts, labels, shots, seed)
                model = train_intent_model(train_texts, train_labels, kb=kb, params=params, thresholds=limits)
                report = evaluate(lambda t, m=model: m.rank(t)[1], held_texts, held_gold, set(kb.intents), limits)
                runs.append((report.accuracy, report.answered_share, report.answered_accuracy))
            acc, share, right = (statistics.median(r[i] for r in runs) for i in range(3))
            name = "all" if shots == 0 else str(shots)
            each = ", ".join(f"{r[0]:.1%}" for r in runs)
            print(f"{name:>4} per intent: accuracy {acc:.1%} (seeds: {each}); answers {share:.1%}, {right:.1%} right")


if __name__ == "__main__":
    main()
