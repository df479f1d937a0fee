"""Blind evaluation sets: questions written from the sources alone, judged on what the user actually got.

A blind set (benchmarks/blind_*.yaml) labels each message with what a correct reply does (`expect`) and the
facts it must hold. Unlike the older labelled files, nothing here names a knowledge-base entry, so the set can
be written by someone who never saw the knowledge base, and it judges the whole reply: the intent the bot acted
on, the facts in the text (and in the options offered), and strings no correct reply may contain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from knowledge.normalize import normalize_chars
from knowledge.yaml_file import load_yaml

Expect = Literal[
    "answer", "decline", "out_of_scope", "complaint", "status", "greeting", "thanks", "language", "clarify"
]
Language = Literal["en", "ur", "roman"]

# What the bot's outcome intents count as, for judging. A decline and an out-of-scope reply both tell the user
# the sources cannot help; either is right for a question the sources do not answer.
DECLINES = frozenset({"decline", "out_of_scope"})
ACCEPTED: dict[str, frozenset[str]] = {
    "answer": frozenset({"answer"}),
    "decline": DECLINES,
    "out_of_scope": DECLINES,
    "complaint": frozenset({"complaint_start", "complaint"}),
    "status": frozenset({"status"}),
    "greeting": frozenset({"greeting"}),
    "thanks": frozenset({"closing"}),
    "language": frozenset({"language"}),
    "clarify": frozenset({"clarify", "menu"}),
}
# Groups the targets are stated for.
GROUPS = {
    "declines": frozenset({"decline", "out_of_scope"}),
    "complaint+status": frozenset({"complaint", "status"}),
}


class BlindItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    lang: Language
    style: list[str] = Field(default_factory=list)
    expect: Expect
    facts: list[str | list[str]] = Field(default_factory=list)
    must_not: list[str] = Field(default_factory=list)
    context: list[str] = Field(default_factory=list)
    target: Language | None = None
    source: str | list[str] | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BlindItem:
        if self.expect == "answer" and not self.facts:
            raise ValueError(f"{self.id}: an answer needs facts")
        if self.expect == "language" and self.target is None:
            raise ValueError(f"{self.id}: a language request needs its target")
        return self

    def fact_groups(self) -> list[list[str]]:
        return [[f] if isinstance(f, str) else list(f) for f in self.facts]


class BlindFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meta: dict[str, object] = Field(default_factory=dict)
    questions: list[BlindItem] = Field(min_length=1)


def is_blind_file(raw: object) -> bool:
    """A blind set labels facts and expectations; the older files name entries (`q`, `expect: <entry id>`)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("questions"), list) or not raw["questions"]:
        return False
    first = raw["questions"][0]
    return isinstance(first, dict) and "text" in first


def load_blind(path: Path) -> list[BlindItem]:
    """Parse a blind set; ValueError naming the file on a bad one."""
    try:
        raw = load_yaml(Path(path).read_text(encoding="utf-8"))
        items = BlindFile.model_validate(raw).questions
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"{path}: duplicate id {item.id!r}")
        seen.add(item.id)
    return items


@dataclass(frozen=True)
class Reply:
    """What the user got for a message, as the judge needs it (from any channel-neutral outcome)."""

    text: str
    intent: str
    language: str
    options: tuple[str, ...] = ()
    entry_id: str | None = None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    why: str = ""


def _contains(haystack: str, needle: str) -> bool:
    """Case-insensitive substring after normalising both sides (digits, thousands separators, Urdu letter forms),
    as the set's writers were told ("19500" and "۱۹,۵۰۰" both hold "19,500")."""
    wanted = normalize_chars(needle)
    return bool(wanted) and wanted in haystack


def judge(item: BlindItem, reply: Reply) -> Verdict:
    """Right when the bot acted on the expected intent and the reply holds every fact and no forbidden string."""
    accepted = ACCEPTED[item.expect]
    if reply.intent not in accepted:
        return Verdict(False, f"intent {reply.intent}" + (f":{reply.entry_id}" if reply.entry_id else ""))
    if item.expect == "language" and reply.language != item.target:
        return Verdict(False, f"reply language {reply.language}, wanted {item.target}")
    seen = normalize_chars(" ".join((reply.text, *reply.options)))
    missing = [group[0] for group in item.fact_groups() if not any(_contains(seen, fact) for fact in group)]
    if missing:
        return Verdict(False, "missing " + ", ".join(repr(m) for m in missing))
    present = [bad for bad in item.must_not if _contains(seen, bad)]
    if present:
        return Verdict(False, "says " + ", ".join(repr(p) for p in present))
    return Verdict(True)


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    right: Counter[str] = field(default_factory=Counter)

    def add(self, key: str, ok: bool) -> None:
        self.counts[key] += 1
        self.right[key] += ok

    def lines(self, title: str) -> list[str]:
        out = [f"{title}:"]
        for key in sorted(self.counts):
            n, ok = self.counts[key], self.right[key]
            out.append(f"  {key:18} {ok:4}/{n:<4} {100 * ok / n:5.1f}%")
        return out


@dataclass
class BlindReport:
    name: str
    total: int = 0
    right: int = 0
    by_expect: Tally = field(default_factory=Tally)
    by_lang: Tally = field(default_factory=Tally)
    by_style: Tally = field(default_factory=Tally)
    by_group: Tally = field(default_factory=Tally)
    misses: list[tuple[BlindItem, Reply, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    def add(self, item: BlindItem, reply: Reply, verdict: Verdict) -> None:
        self.total += 1
        self.right += verdict.ok
        self.by_expect.add(item.expect, verdict.ok)
        self.by_lang.add(item.lang, verdict.ok)
        for style in item.style:
            self.by_style.add(style, verdict.ok)
        for group, members in GROUPS.items():
            if item.expect in members:
                self.by_group.add(group, verdict.ok)
        if not verdict.ok:
            self.misses.append((item, reply, verdict.why))

    def summary(self) -> list[str]:
        out = [f"{self.name}: overall {self.right}/{self.total} ({100 * self.accuracy:.1f}%)"]
        out += self.by_expect.lines("by expected intent")
        out += self.by_group.lines("target groups")
        out += self.by_lang.lines("by language")
        out += self.by_style.lines("by style")
        return out

    def miss_lines(self) -> list[str]:
        out = [f"misses: {len(self.misses)}"]
        for item, reply, why in self.misses:
            first = reply.text.replace("\n", " ")[:90]
            out.append(f"  {item.id} [{item.lang}] expect {item.expect}: {item.text!r}")
            out.append(f"      got {why}; reply: {first!r}")
        return out
