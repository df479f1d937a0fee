"""Accuracy of the matcher on a labelled question file (benchmarks/questions.yaml)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.matcher import Matcher
from knowledge.yaml_file import load_yaml

INTENTS = {"greeting", "complaint_start", "out_of_scope", "clarify", "answer"}


class LabelledQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str
    lang: str = Field(pattern="^(en|roman|ur)$")
    expect: str


class QuestionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    questions: list[LabelledQuestion] = Field(min_length=1)


@dataclass
class Miss:
    question: LabelledQuestion
    got: str
    score: float
    candidates: str


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    by_intent: Counter[str] = field(default_factory=Counter)
    by_intent_ok: Counter[str] = field(default_factory=Counter)
    by_lang: Counter[str] = field(default_factory=Counter)
    by_lang_ok: Counter[str] = field(default_factory=Counter)
    language_detected_ok: int = 0
    misses: list[Miss] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def lines(self) -> list[str]:
        def pct(ok: int, n: int) -> str:
            return f"{ok}/{n} ({100 * ok / n:.1f}%)" if n else "0/0"

        out = [f"overall: {pct(self.correct, self.total)}", "by expected intent:"]
        out += [f"  {k:16} {pct(self.by_intent_ok[k], n)}" for k, n in sorted(self.by_intent.items())]
        out.append("by language:")
        out += [f"  {k:16} {pct(self.by_lang_ok[k], n)}" for k, n in sorted(self.by_lang.items())]
        out.append(f"language detected correctly: {pct(self.language_detected_ok, self.total)}")
        out.append(f"misses: {len(self.misses)}")
        for miss in self.misses:
            q = miss.question
            out.append(
                f"  [{q.lang}] {q.q!r}: expected {q.expect}, got {miss.got} ({miss.score:.2f}; {miss.candidates})"
            )
        return out


def load_questions(path: Path) -> list[LabelledQuestion]:
    """Parse a labelled question file; raises ValueError with the file named on a bad one."""
    try:
        return QuestionFile.model_validate(load_yaml(Path(path).read_text(encoding="utf-8"))).questions
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def evaluate(matcher: Matcher, questions: list[LabelledQuestion]) -> Report:
    report = Report()
    for item in questions:
        match = matcher.match(item.q)
        expected_intent = item.expect if item.expect in INTENTS else "answer"
        if expected_intent == "answer":
            # An entry written to decline ("the sources do not say") is reported as out_of_scope; one given after
            # declining a facet it lacks, as decline.
            ok = match.entry_id == item.expect and match.intent in ("answer", "out_of_scope", "decline")
            got = f"{match.intent}:{match.entry_id}" if match.entry_id else match.intent
        elif expected_intent == "out_of_scope":
            ok = match.intent in ("out_of_scope", "decline")
        else:
            ok = match.intent == expected_intent
            got = match.intent if ok or not match.entry_id else f"{match.intent}:{match.entry_id}"
        report.total += 1
        report.by_intent[expected_intent] += 1
        report.by_lang[item.lang] += 1
        report.language_detected_ok += match.language == item.lang
        if ok:
            report.correct += 1
            report.by_intent_ok[expected_intent] += 1
            report.by_lang_ok[item.lang] += 1
        else:
            cands = ", ".join(f"{c.entry_id} {c.score:.2f}" for c in match.candidates[:3])
            report.misses.append(Miss(item, got, match.score, cands))
    return report
