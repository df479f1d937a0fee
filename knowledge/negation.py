"""What a message says something is NOT: "a normal IT company (not a startup)", "main startup nahi hun", "non-startup
firm". A thing named only to be denied is not what the question is about, so it is taken out of the words matched:
otherwise "fee for a company that is not a startup" finds the startup fee, the one answer it must not get.

Only a denial of identity counts: "not"/"non" right before the thing, the thing with "nahi"/"نہیں" and a copula
("hun", "hai", "ہوں") after it, or an aside in brackets or commas that denies it ("(startup nahi)"). "registration
nahi hui" (it did not happen) and "exemption nahi milegi?" are about the thing, and keep it.
"""

from __future__ import annotations

import re

from knowledge.normalize import normalize_chars

_BEFORE = frozenset({"not", "non", "nor"})  # "not a startup", "non-startup", "neither ... nor a startup"
_ARTICLES = frozenset({"a", "an", "the", "just", "only", "really"})
_AFTER = frozenset(map(normalize_chars, ("nahi", "nahin", "nhi", "nai", "نہیں")))
_COPULAS = frozenset(map(normalize_chars, ("hun", "hoon", "hu", "hai", "hain", "he", "hy", "ہوں", "ہے", "ہیں", "hn")))
# A denial in brackets or between commas: "(startup nahi)", "(not startup)", ", startup nahi,".
_ASIDE = re.compile(r"[(\[,،]\s*([^()\[\],،]{1,40}?)\s*[)\],،]")


def asides_denied(text: str) -> list[str]:
    """The normalised words of bracketed or comma-set asides that deny something ("(startup nahi)")."""
    denied = []
    for aside in _ASIDE.findall(text):
        words = normalize_chars(aside).split()
        if words and (words[0] in _BEFORE or words[-1] in _AFTER):
            denied.extend(w for w in words if w not in _BEFORE and w not in _AFTER and w not in _ARTICLES)
    return denied


def denied_positions(tokens: list[str], denied_in_asides: set[str]) -> set[int]:
    """Positions of tokens that the message denies: `tokens` are the folded words; `denied_in_asides` the folded
    words asides deny."""
    out = set()
    for at, token in enumerate(tokens):
        if token in denied_in_asides:
            out.add(at)
            continue
        back = at - 1
        while back >= 0 and tokens[back] in _ARTICLES:
            back -= 1
        if back >= 0 and tokens[back] in _BEFORE:
            out.add(at)
            continue
        after = tokens[at + 1 : at + 3]
        if len(after) == 2 and after[0] in _AFTER and after[1] in _COPULAS:
            out.add(at)
    return out
