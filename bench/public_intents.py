"""Rebuild the public Chinese intent sets of ``bench/data`` (sources and licences in
docs/data-sources.md) from their repositories' files; each writes ``train.csv`` and ``test.csv``
(``text,intent``) into OUT_DIR, byte for byte the committed ones.

    python -m bench.public_intents crosswoz VAL.json TEST.json bench/data/crosswoz_intents
    python -m bench.public_intents xsid zh.valid.conll zh.test.conll bench/data/xsid_zh

CrossWOZ (github.com/thu-coai/CrossWOZ, commit df82c9f, Apache-2.0; ``data/crosswoz/val.json.zip``
and ``test.json.zip``, unzipped): user turns with exactly one dialogue act, labelled
``Request-<domain>-<slot>`` or ``General-<act>``; hotel facilities merged into one slot; intents
with fewer than 20 examples dropped, and ``Inform-酒店-酒店设施`` (it overlaps its Request twin);
duplicates and held-out texts seen in training removed. The official val split trains, the
official test split is held out (the train split is too large for the snapshot we read).

xSID (github.com/mainlp/xsid, commit 761d926, ``data/xSID-0.7``, CC BY-SA 4.0; the derived CSVs
are under the same licence): human translations of SNIPS and multilingual-TOD commands. There is
no Chinese training split, so the valid and test files are pooled, spaces between Chinese
characters removed, duplicates and texts with two labels dropped, the one-example intent
``alarm/modify_alarm`` dropped, and 20 % of each intent held out (``random.Random(42)``).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

Rows = list[tuple[str, str]]

MIN_EXAMPLES = 20
CROSSWOZ_DROPPED = {"Inform-酒店-酒店设施"}


def user_turns(path: Path) -> Rows:
    dialogues = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for key in sorted(dialogues, key=int):
        for message in dialogues[key]["messages"]:
            if message["role"] != "usr":
                continue
            acts = {(a[0], a[1], "酒店设施" if a[2].startswith("酒店设施") else a[2]) for a in message["dialog_act"]}
            if len(acts) != 1:
                continue
            intent, domain, slot = acts.pop()
            label = f"General-{domain}" if intent == "General" else f"{intent}-{domain}-{slot}"
            text = " ".join(message["content"].split())
            if text:
                rows.append((text, label))
    return rows


def unique(rows: Rows, keep: set[str], banned: set[str]) -> Rows:
    seen: set[str] = set()
    out = []
    for text, label in rows:
        if label in keep and text not in seen and text not in banned:
            seen.add(text)
            out.append((text, label))
    return out


def crosswoz(val: Path, test: Path) -> tuple[Rows, Rows]:
    train_rows, test_rows = user_turns(val), user_turns(test)
    counts = Counter(label for _, label in train_rows + test_rows)
    keep = {label for label, n in counts.items() if n >= MIN_EXAMPLES} - CROSSWOZ_DROPPED
    train = unique(train_rows, keep, set())
    return train, unique(test_rows, keep, {text for text, _ in train})


_WIDE = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]"
_SPACE_RE = re.compile(rf"(?<={_WIDE}) (?={_WIDE}|[0-9A-Za-z])|(?<=[0-9A-Za-z]) (?={_WIDE})")
XSID_DROPPED = {"alarm/modify_alarm"}
HELD_OUT_SHARE = 0.2


def sentences(path: Path) -> Rows:
    rows, text = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# text = "):
            text = _SPACE_RE.sub("", " ".join(line[9:].split()))
        elif line.startswith("# intent = "):
            rows.append((text, line[11:].strip()))
    return rows


def xsid(valid: Path, test: Path) -> tuple[Rows, Rows]:
    rows = sentences(valid) + sentences(test)
    labels_of: dict[str, set[str]] = defaultdict(set)
    for text, label in rows:
        labels_of[text].add(label)
    by_intent: dict[str, Rows] = defaultdict(list)
    for text, label in dict.fromkeys(rows):
        if len(labels_of[text]) == 1 and label not in XSID_DROPPED:
            by_intent[label].append((text, label))
    rng = random.Random(42)
    train: Rows = []
    held: Rows = []
    for label in sorted(by_intent):
        examples = by_intent[label]
        rng.shuffle(examples)
        k = max(1, round(len(examples) * HELD_OUT_SHARE))
        held += examples[:k]
        train += examples[k:]
    rng.shuffle(train)
    rng.shuffle(held)
    return train, held


BUILDERS = {"crosswoz": crosswoz, "xsid": xsid}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("set", choices=sorted(BUILDERS))
    ap.add_argument("first", type=Path, help="CrossWOZ: val.json (trained on); xSID: zh.valid.conll (pooled)")
    ap.add_argument("second", type=Path, help="CrossWOZ: test.json (held out); xSID: zh.test.conll (pooled)")
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    train, held = BUILDERS[args.set](args.first, args.second)
    for name, rows in (("train", train), ("test", held)):
        with (args.out / f"{name}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "intent"])
            writer.writerows(rows)
    print(f"{len(train)} training, {len(held)} held out, {len({label for _, label in train})} intents")


if __name__ == "__main__":
    main()
