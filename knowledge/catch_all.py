"""A declining entry ("the sources do not name these people") is a catch-all: it is written for a kind of question,
so its variants match many questions about people, counts or incentives by their general words. When an entry that
answers reads about as well and shares MORE of the message's words, the question is about that entry's subject
("when the GB minister came to KP, who did he meet": the visit names whom), and the catch-all steps aside.
"""

from __future__ import annotations

from knowledge.match_types import Candidate

WINDOW = 0.1  # an answering entry this close to a declining one, holding more of the message, is preferred


def yield_to_answers(candidates: list[Candidate], declining: frozenset[str]) -> list[Candidate]:
    """The ranked candidates without a leading declining entry that a close answering entry out-shares."""
    if not candidates or candidates[0].entry_id not in declining:
        return candidates
    top = candidates[0]
    better = [
        c
        for c in candidates[1:]
        if c.entry_id not in declining and c.score >= top.score - WINDOW and c.shared > top.shared
    ]
    return candidates[1:] if better else candidates
