"""How well ``kefu insights unanswered`` groups questions it has never seen: paraphrases of one
need in one group, different needs (and noise) apart.

    python bench/insight_grouping.py [--data bench/data/insight_grouping.csv] [--sweep]

Prints purity (of each group, the share of its largest need; noise lines count as needs of
their own, so noise joining a need's group lowers it), completeness (of each need, the share of
its paraphrases in its largest group), both weighted by size, and the number of groups; with
``--sweep`` the same for several distance thresholds.

The default data is the tuning set (the thresholds were chosen on it);
bench/data/insight_grouping_blind.csv is the blind measurement, never to tune on.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from alerts.insights.grouping import DISTANCE, Group, group_texts
from bot.nlu.knowledge import load_knowledge_base
from bot.settings import SHIPPED_FAQ

DATA = Path(__file__).with_name("data") / "insight_grouping.csv"


def scores(rows: list[tuple[str, str]], groups: list[Group]) -> tuple[float, float]:
    """Purity and completeness of ``groups`` against the labels of ``rows`` (text, need)."""
    label = {text: need or f"noise:{n}" for n, (text, need) in enumerate(rows)}
    group_of = {text: g for g, group in enumerate(groups) for text in group.texts}
    pure = sum(Counter(label[t] for t in group.texts).most_common(1)[0][1] for group in groups)
    needs: dict[str, Counter[int]] = {}
    for text, need in rows:
        if need:
            needs.setdefault(need, Counter())[group_of[text]] += 1
    complete = sum(c.most_common(1)[0][1] for c in needs.values())
    return pure / len(rows), complete / sum(sum(c.values()) for c in needs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sweep", action="store_true", help="also other distance thresholds")
    parser.add_argument("--show", action="store_true", help="print the groups of two or more")
    args = parser.parse_args()
    with args.data.open(encoding="utf-8") as f:
        rows = [(r["text"], r["need"]) for r in csv.DictReader(f)]
    kb = load_knowledge_base(SHIPPED_FAQ)
    intents = {name: intent.examples for name, intent in kb.intents.items()}
    needs = len({need for _, need in rows if need})
    print(f"{len(rows)} texts: {needs} needs, {sum(1 for _, n in rows if not n)} noise lines")
    for distance in [0.6, 0.65, 0.7, 0.72, 0.75, 0.8] if args.sweep else [DISTANCE]:
        groups = group_texts([t for t, _ in rows], intents, distance=distance)
        purity, completeness = scores(rows, groups)
        big = sum(1 for g in groups if g.count > 1)
        print(
            f"distance {distance:.2f}: purity {purity:.3f}  completeness {completeness:.3f}  "
            f"groups {len(groups)} ({big} of two or more)"
        )
        for group in groups if args.show else []:
            if group.count > 1:
                print(f"  {group.count:>3} {group.suggested_intent or '-':<20} {' / '.join(group.examples[:4])}")


if __name__ == "__main__":
    main()
