"""Explicit risk rules: words and patterns, punctuation, and the same question asked again.

Everything here is a pure function of its inputs. ``compile_rules`` turns settings into a
``RuleSet`` once (one regular expression per rule family); matching a message is then a handful of
regex searches, a few microseconds. Word rules look at normalised text (lower case, simplified,
punctuation gone, order and phone numbers masked); punctuation and emoji rules look at the raw
text, because normalisation strips exactly what they need.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alerts.risk.settings import PunctuationSettings, RepeatSettings, RiskSettings
from bot.nlu.normalize import normalize

REASON_EXCLAIM = "情绪激动（连续感叹号）"
REASON_QUESTION = "情绪激动（连续问号）"
REASON_EMOJI = "情绪激动（愤怒表情）"
REASON_REPEAT_UNANSWERED = "重复追问未解决"
REASON_REPEAT = "重复追问"


@dataclass(frozen=True, slots=True)
class RuleHit:
    reason: str  # Simplified Chinese, for staff
    weight: float  # strength on its own, in [0, 1]
    evidence: str  # what matched (normalised text, or the punctuation run)
    rule: str  # the rule's name in settings, e.g. "complaint_channels"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    reason: str
    weight: float
    regex: re.Pattern[str]
    negatable: bool


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    negation: re.Pattern[str] | None
    negation_window: int
    reassurance: re.Pattern[str] | None
    punctuation: PunctuationSettings
    emoji: re.Pattern[str] | None


_PUNCT_RUN_RE = re.compile(r"[!?]{2,}")


def _word_pattern(word: str) -> str | None:
    norm = normalize(word).text
    return re.escape(norm) if norm else None


def compile_rules(settings: RiskSettings) -> RuleSet:
    """Build the matchers once per settings version; raises ``ValueError`` on an unusable rule."""
    compiled = []
    for name, spec in settings.rules.items():
        if not spec.enabled or spec.weight <= 0:
            continue
        words = [p for p in (_word_pattern(w) for w in spec.all_words) if p]
        # Longest first, so that "消费者协会" is the evidence rather than a shorter prefix.
        alternatives = sorted(words, key=len, reverse=True) + [f"(?:{p})" for p in spec.patterns]
        if not alternatives:
            continue
        compiled.append(
            CompiledRule(
                name=name,
                reason=spec.reason,
                weight=spec.weight,
                regex=re.compile("|".join(alternatives)),
                negatable=spec.negatable,
            )
        )
    negations = [p for p in (_word_pattern(n) for n in settings.negations) if p]
    negation = re.compile("|".join(sorted(negations, key=len, reverse=True))) if negations else None
    emoji = settings.punctuation.angry_emoji
    emoji_re = re.compile("|".join(re.escape(e) for e in emoji if e)) if any(emoji) else None
    return RuleSet(
        rules=tuple(compiled),
        negation=negation,
        negation_window=settings.negation_window,
        reassurance=_reassurance_pattern(settings),
        punctuation=settings.punctuation,
        emoji=emoji_re,
    )


def _reassurance_pattern(settings: RiskSettings) -> re.Pattern[str] | None:
    spec = settings.reassurance

    def alternatives(words: list[str]) -> str:
        return "|".join(sorted((p for p in (_word_pattern(w) for w in words) if p), key=len, reverse=True))

    negations, words = alternatives(spec.negations), alternatives(spec.words)
    if not (spec.enabled and negations and words):
        return None
    degrees = alternatives(spec.degrees)
    # Not after 能 or 怎么: "我能不生气吗" and "你们怎么不急" are anger, asked.
    return re.compile(f"(?<!能)(?<!怎么)(?:{negations})" + (f"(?:{degrees})?" if degrees else "") + f"(?:{words})")


def without_reassurance(rules: RuleSet, normalized_text: str) -> str:
    """The text without the spans that take trouble back ("没有异味", "一点都不差", "不后悔")."""
    if rules.reassurance is None:
        return normalized_text
    return rules.reassurance.sub(" ", normalized_text)


def _negation_start(rules: RuleSet, text: str, start: int) -> int | None:
    """Where the negation that cancels the match at ``start`` begins; None when none does."""
    if rules.negation is None or rules.negation_window == 0:
        return None
    window_start = max(0, start - rules.negation_window)
    clause_start = text.rfind(" ", window_start, start) + 1  # a space is where punctuation was
    m = rules.negation.search(text, max(window_start, clause_start), start)
    return m.start() if m else None


def read_words(rules: RuleSet, normalized_text: str) -> tuple[list[RuleHit], str]:
    """The word rules' hits (one per rule family at most: its first match that is not negated),
    and the text without the matches a negation cancels, the negation included ("不会投诉"), for
    the emotion model: it reads "投诉", and "不会" too, as a complaint whatever the order. One scan
    for both."""
    hits: list[RuleHit] = []
    cancelled: list[tuple[int, int]] = []
    for rule in rules.rules:
        hit = False
        for m in rule.regex.finditer(normalized_text):
            negation_start = _negation_start(rules, normalized_text, m.start()) if rule.negatable else None
            if negation_start is not None:
                cancelled.append((negation_start, m.end()))
            elif not hit:
                reason = rule.reason.replace("{match}", m.group()) if "{match}" in rule.reason else rule.reason
                hits.append(RuleHit(reason=reason, weight=rule.weight, evidence=m.group(), rule=rule.name))
                hit = True
                if not rule.negatable:
                    break  # nothing of it can be cancelled: the rest is not needed
    if not cancelled:
        return hits, normalized_text
    chars = list(normalized_text)
    for span_start, span_end in cancelled:
        chars[span_start:span_end] = " " * (span_end - span_start)
    return hits, "".join(chars)


def punctuation_hits(rules: RuleSet, raw_text: str) -> list[RuleHit]:
    """Runs of exclamation or question marks and angry emoji, on the raw text."""
    p = rules.punctuation
    if not p.enabled:
        return []
    text = unicodedata.normalize("NFKC", raw_text)  # full-width ！？ become !?
    hits = []
    longest_exclaim = 0
    longest_question = 0
    for m in _PUNCT_RUN_RE.finditer(text):
        run = m.group()
        if "!" in run:
            longest_exclaim = max(longest_exclaim, len(run))
        else:
            longest_question = max(longest_question, len(run))
    if longest_exclaim >= p.strong_exclaim_run and p.strong_exclaim_weight > 0:
        hits.append(RuleHit(REASON_EXCLAIM, p.strong_exclaim_weight, "!" * longest_exclaim, "punctuation"))
    elif longest_exclaim >= p.exclaim_run and p.exclaim_weight > 0:
        hits.append(RuleHit(REASON_EXCLAIM, p.exclaim_weight, "!" * longest_exclaim, "punctuation"))
    if longest_question >= p.question_run and p.question_weight > 0:
        hits.append(RuleHit(REASON_QUESTION, p.question_weight, "?" * longest_question, "punctuation"))
    if rules.emoji is not None and p.emoji_weight > 0:
        emoji = rules.emoji.search(raw_text)
        if emoji:
            hits.append(RuleHit(REASON_EMOJI, p.emoji_weight, emoji.group(), "punctuation"))
    return hits


def _bigrams(text: str) -> frozenset[str]:
    compact = text.replace(" ", "")
    if len(compact) < 2:
        return frozenset({compact}) if compact else frozenset()
    return frozenset(compact[i : i + 2] for i in range(len(compact) - 1))


def similarity(a: str, b: str) -> float:
    """Dice coefficient of character bigrams of two normalised texts, in [0, 1]."""
    x, y = _bigrams(a), _bigrams(b)
    if not x or not y:
        return 0.0
    return 2 * len(x & y) / (len(x) + len(y))


def repeat_hits(
    settings: RepeatSettings,
    normalized_text: str,
    earlier: Sequence[tuple[str, bool]],
    is_question: bool = True,
) -> list[RuleHit]:
    """The current question against earlier customer turns: (normalised text, answered), oldest first.

    Each earlier similar turn the bot could not answer adds ``settings.weight`` (noisy-OR), so a
    question asked a third time weighs more than one asked twice. Repeats of turns the bot did
    answer count only for questions: "好的，那我等等" said twice is no complaint.
    """
    if not settings.enabled or len(normalized_text.replace(" ", "")) < settings.min_chars:
        return []
    unanswered = answered = 0
    for text, was_answered in list(earlier)[-settings.lookback_turns :]:
        if similarity(normalized_text, text) >= settings.similarity:
            if was_answered:
                answered += 1
            else:
                unanswered += 1
    hits = []
    if unanswered and settings.weight > 0:
        weight = noisy_or([settings.weight] * unanswered)
        hits.append(RuleHit(REASON_REPEAT_UNANSWERED, weight, f"{unanswered}次", "repeat"))
    elif answered and is_question and settings.answered_weight > 0:
        weight = noisy_or([settings.answered_weight] * answered)
        hits.append(RuleHit(REASON_REPEAT, weight, f"{answered}次", "repeat"))
    return hits


def noisy_or(weights: Iterable[float]) -> float:
    """1 - prod(1 - w): independent pieces of evidence; never above 1, never below the largest."""
    keep = 1.0
    for w in weights:
        keep *= 1.0 - min(max(w, 0.0), 1.0)
    return 1.0 - keep
