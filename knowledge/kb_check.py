"""`sahulat kb check`: question variants the matcher would answer with another entry, or cannot tell apart. A
build-time check of the knowledge base, not part of reading messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.matcher import Matcher


def confusable_variants(matcher: Matcher) -> list[str]:
    """Question variants that the matcher answers with another entry, or cannot tell apart."""
    findings = []
    for entry in matcher.kb.entries.values():
        for _, question in entry.questions.all():
            analysis = matcher.analyse(question)
            ranked = matcher.rank(analysis.content, limit=2)
            if not ranked:
                findings.append(f"entry {entry.id!r}: variant {question!r} has no words the matcher can use")
                continue
            top = ranked[0]
            second = ranked[1] if len(ranked) > 1 else None
            if top.entry_id != entry.id:
                findings.append(f"entry {entry.id!r}: variant {question!r} matches {top.entry_id!r} better")
            elif second and top.score - second.score < matcher.cal.answer_margin:
                findings.append(
                    f"entry {entry.id!r}: variant {question!r} is too close to {second.entry_id!r}"
                    f" ({top.score:.2f} vs {second.score:.2f})"
                )
    return findings
