"""The evaluation gate of a knowledge-base change: a new version whose cross-validated accuracy
drops by more than a set margin, or that no longer answers a must-answer question with its
intent, is refused with the reasons (unless the operator forces it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.nlu.decide import Action, Thresholds
from bot.nlu.knowledge import KnowledgeBase
from bot.nlu.params import TrainParams


@dataclass(frozen=True, slots=True)
class GateResult:
    accuracy: float  # the new version's, cross-validated
    baseline: float | None  # the version in use's
    reasons: list[str] = field(default_factory=list)  # why it is refused; empty: it passes

    @property
    def passed(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True)
class Gate:
    params: TrainParams
    thresholds: Thresholds
    max_accuracy_drop: float  # 0.02: two points of accuracy
    folds: int
    must_answer: Sequence[tuple[str, str]] = ()  # (question, intent) the bot must answer so

    def accuracy(self, kb: KnowledgeBase) -> float:
        from bot.nlu.crossval import cross_validate  # the model modules: only when a change is judged

        return cross_validate(kb, self.params, self.thresholds, self.folds).accuracy

    def judge(self, new: KnowledgeBase, baseline: float | None) -> GateResult:
        accuracy = self.accuracy(new)
        reasons = []
        if baseline is not None and baseline - accuracy > self.max_accuracy_drop:
            reasons.append(
                f"cross-validated accuracy drops from {baseline:.1%} to {accuracy:.1%}, "
                f"more than kb.max_accuracy_drop ({self.max_accuracy_drop:.1%})"
            )
        reasons += self.regressions(new)
        return GateResult(accuracy, baseline, reasons)

    def regressions(self, kb: KnowledgeBase) -> list[str]:
        """Must-answer questions the new version's model does not answer with their intent."""
        if not self.must_answer:
            return []
        from bot.nlu.intent_model import train_intent_model  # as in ``accuracy``

        texts, labels = kb.training_pairs()
        model = train_intent_model(texts, labels, kb=kb, params=self.params, thresholds=self.thresholds)
        failed = []
        for question, intent in self.must_answer:
            decision = model.predict(question).decision
            if decision.action is not Action.ANSWER or decision.intent != intent:
                got = decision.intent if decision.action is Action.ANSWER else decision.action.value
                failed.append(f"must answer {question!r} with {intent}, now {got}")
        return failed
