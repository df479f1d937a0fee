"""What the matcher hands back: a ranked candidate entry and the reading of a message (frozen: cached readings are
shared by every message with the same text, so nobody may change one in place)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float
    coverage: float = 0.0
    place_only: bool = False  # the only words shared with the message are place names
    precision: float = 1.0  # the share of the message's weight the entry explains ("linked list python": little)
    shared: int = 1  # how many of the message's words the entry's best variant holds


@dataclass(frozen=True)
class Match:
    """What a message was taken to mean. Frozen: a cached match is shared by every message with the same text."""

    intent: str  # answer | clarify | out_of_scope | greeting | complaint_start
    language: str
    normalized: str
    entry_id: str | None = None
    score: float = 0.0
    candidates: tuple[Candidate, ...] = ()
    facet: str | None = None
    missing_place: str | None = None
    near_domain: bool = False
    low_confidence: bool = False  # answered, but not clearly: staff see it in the unanswered queue
    confirmed: bool = False  # a yes/no question the answer confirms: "Yes." is said first (knowledge/yes_no.py)
    alternatives: tuple[str, ...] = ()  # a "did you mean"'s other readings, offered beside its best one answered
    also: tuple[str, ...] = ()  # the same question about other places the message names ("quetta aur sukkur")
