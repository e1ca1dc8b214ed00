"""Out-of-scope Chinese questions kept out, against in-scope questions kept, with the shipped model.

    python bench/scope_zh.py [--data bench/data/scope_zh.csv] [--json]

The data (``text,scope``, scope ``in`` or ``out``) was written blind: chit-chat and general
questions ("今天天气怎么样", "一加一等于几") and the author's own paraphrases of shop questions, none
taken from the knowledge base. The intent model is trained from the shipped knowledge base as the
server trains it, then each line is decided alone:
- an out-of-scope line is *kept out* when the bot neither answers nor clarifies with shop
  intents (action ``out_of_scope`` or ``fallback``), and *not answered* unless it answers;
- an in-scope line is *kept* unless it is kept out; *answered* when the bot answers it.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from bot.nlu.decide import Action
from bot.nlu.intent_model import train_intent_model
from bot.nlu.knowledge import load_knowledge_base
from bot.runtime import thresholds, train_params
from bot.runtime.settings import load_settings

HERE = Path(__file__).resolve().parent
KEPT_OUT = {Action.FALLBACK.value, "out_of_scope"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=HERE / "data" / "scope_zh.csv")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with args.data.open(encoding="utf-8") as f:
        rows = [(r["text"], r["scope"]) for r in csv.DictReader(f)]
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(None).model_copy(update={"data_dir": Path(data_dir)})
        kb = load_knowledge_base(settings.faq_path)
        texts, labels = kb.training_pairs()
        model = train_intent_model(texts, labels, kb=kb, params=train_params(settings), thresholds=thresholds(settings))
        actions = [(model.predict(text).decision.action.value, scope) for text, scope in rows]
    out = [a for a, scope in actions if scope == "out"]
    inside = [a for a, scope in actions if scope == "in"]
    report = {
        "n_out": len(out),
        "n_in": len(inside),
        "out_kept_out": round(sum(a in KEPT_OUT for a in out) / len(out), 4),
        "out_not_answered": round(sum(a != Action.ANSWER.value for a in out) / len(out), 4),
        "in_kept": round(sum(a not in KEPT_OUT for a in inside) / len(inside), 4),
        "in_answered": round(sum(a == Action.ANSWER.value for a in inside) / len(inside), 4),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{args.data}: {len(out)} out-of-scope, {len(inside)} in-scope lines")
    print(f"  out-of-scope kept out {report['out_kept_out']:.1%}  (not answered {report['out_not_answered']:.1%})")
    print(f"  in-scope kept {report['in_kept']:.1%}  (answered {report['in_answered']:.1%})")


if __name__ == "__main__":
    main()
