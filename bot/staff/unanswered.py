"""The unanswered-questions queue: open questions grouped by similarity, so staff see what is asked most.

Grouping is greedy over the matcher's normalised text, cut to a bounded prefix: identical prefixes first, then
rapidfuzz's token_set_ratio against each group's representative (the group's most frequent text). Citizens write
these rows, so the work is bounded (issue 20, finding 1: comparing every question with every group froze the
process for 46 s at 1,000 rows): at most MAX_COMPARISONS fuzzy comparisons per view, most-asked wordings first,
the rest grouped by exact prefix only; and it runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import UnansweredQuestion, utcnow

SIMILARITY = 85.0
MAX_ROWS = 5000  # the newest open questions considered; older ones show once these are handled
MAX_IDS_PER_ACTION = MAX_ROWS
MAX_KEY_CHARS = 160  # questions are compared by this much of their normalised text
MAX_COMPARISONS = 200_000  # fuzzy comparisons per grouping, then exact prefixes (benchmarks/bench_unanswered.py)


@dataclass
class Group:
    """Similar open questions: the representative text, how many, in which languages, and when last asked."""

    key: str
    rows: list[UnansweredQuestion] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def text(self) -> str:
        texts = Counter(row.text.strip() for row in self.rows)
        return texts.most_common(1)[0][0]

    @property
    def others(self) -> list[str]:
        seen = {self.text}
        variants = []
        for row in self.rows:
            text = row.text.strip()
            if text not in seen:
                seen.add(text)
                variants.append(text)
        return variants[:5]

    @property
    def languages(self) -> list[str]:
        return sorted({row.language for row in self.rows})

    @property
    def intents(self) -> list[str]:
        return sorted({row.intent for row in self.rows})

    @property
    def latest(self) -> dt.datetime:
        return max(row.created_at for row in self.rows)

    @property
    def ids(self) -> list[int]:
        return sorted(row.id for row in self.rows if row.id is not None)

    @property
    def answered(self) -> list[str]:
        """The entries the bot answered with when it was not sure (what the users were told)."""
        return sorted({str(c["entry_id"]) for row in self.rows for c in row.candidates if c.get("answered")})

    @property
    def picked(self) -> list[str]:
        """The entries users picked from a "did you mean" for this wording (a variant to add, most likely)."""
        return sorted({str(c["entry_id"]) for row in self.rows for c in row.candidates if c.get("picked")})

    @property
    def candidates(self) -> list[str]:
        """The entries the matcher thought of, most often first (where staff might add a variant)."""
        counts = Counter(c.get("entry_id") for row in self.rows for c in row.candidates if c.get("entry_id"))
        return [str(entry) for entry, _ in counts.most_common(3)]


def group_key(row: UnansweredQuestion) -> str:
    return (row.normalized.strip() or row.text.strip().lower())[:MAX_KEY_CHARS]


def group_questions(
    rows: list[UnansweredQuestion], similarity: float = SIMILARITY, budget: int = MAX_COMPARISONS
) -> list[Group]:
    """Greedy clustering within `budget` fuzzy comparisons; groups come out largest first, then most recent."""
    exact: dict[str, list[UnansweredQuestion]] = {}
    for row in rows:
        exact.setdefault(group_key(row), []).append(row)
    groups: list[Group] = []
    keys: list[str] = []
    for key, members in sorted(exact.items(), key=lambda item: -len(item[1])):
        found = None
        if key and len(keys) <= budget:
            budget -= len(keys)
            found = process.extractOne(key, keys, scorer=fuzz.token_set_ratio, score_cutoff=similarity)
        if found is not None:
            groups[found[2]].rows.extend(members)
        else:
            groups.append(Group(key=key, rows=list(members)))
            keys.append(key)
    return sorted(groups, key=lambda g: (-g.count, -g.latest.timestamp()))


async def open_groups(session: AsyncSession) -> list[Group]:
    rows = await session.exec(
        select(UnansweredQuestion)
        .where(col(UnansweredQuestion.handled).is_(False))
        .order_by(col(UnansweredQuestion.created_at).desc())
        .limit(MAX_ROWS)
    )
    return await asyncio.to_thread(group_questions, list(rows))  # bounded, but still CPU: not on the event loop


async def mark_handled(session: AsyncSession, ids: list[int], username: str, now: dt.datetime | None = None) -> int:
    """Mark these open questions handled by `username`; returns how many changed (already handled stay as they were)."""
    if not ids:
        return 0
    result = await session.exec(
        update(UnansweredQuestion)
        .where(col(UnansweredQuestion.id).in_(ids[:MAX_IDS_PER_ACTION]), col(UnansweredQuestion.handled).is_(False))
        .values(handled=True, handled_by=username[:64], handled_at=now or utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
