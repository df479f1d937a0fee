"""Text normalisation for matching: one function per layer, applied once per message.

Layers: characters (case, Unicode forms, Urdu letter variants, diacritics, digits, invisible marks,
punctuation), then words (Roman Urdu spelling variants), then phrases (abbreviations, synonyms and place
names in any script folded to one canonical token, so "fsd", "Faisalabad" and "فیصل آباد" all read
"faisalabad").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache

# Arabic-script letters that Urdu writes differently; keyboards and copied text mix them freely.
_URDU_LETTERS = str.maketrans(
    {
        "\u064a": "\u06cc",  # ي Arabic yeh -> ی Farsi/Urdu yeh
        "\u0649": "\u06cc",  # ى alef maksura -> ی
        "\u06d2": "\u06cc",  # ے yeh barree -> ی (typed interchangeably)
        "\u0626": "\u06cc",  # ئ yeh with hamza -> ی
        "\u0643": "\u06a9",  # ك Arabic kaf -> ک keheh
        "\u0647": "\u06c1",  # ه heh -> ہ heh goal
        "\u06be": "\u06c1",  # ھ do-chashmi heh -> ہ
        "\u0629": "\u06c1",  # ة teh marbuta -> ہ
        "\u06c0": "\u06c1",  # ۀ -> ہ
        "\u06c2": "\u06c1",  # ۂ -> ہ
        "\u0622": "\u0627",  # آ alef madda -> ا
        "\u0623": "\u0627",  # أ -> ا
        "\u0625": "\u0627",  # إ -> ا
        "\u0624": "\u0648",  # ؤ -> و
        "\u06c3": "\u062a",  # ۃ -> ت
    }
)
_EASTERN_DIGITS = str.maketrans(
    {**{chr(0x06F0 + i): str(i) for i in range(10)}, **{chr(0x0660 + i): str(i) for i in range(10)}}
)
# Harakat, superscript alef, Quranic marks, tatweel.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_THOUSANDS = re.compile(r"(?<=\d)[,\u066c\u060c](?=\d{3})")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN = re.compile("[a-z]")


CACHED_CHARS = 200  # short texts (a message, an option label, a keyword) are normalised once, then remembered


def normalize_chars(text: str) -> str:
    """Case, Unicode forms, Urdu letters, diacritics, digits and punctuation; words separated by one space.

    A message's text is looked at several times (options, commands, flows, the matcher), and option labels and
    keywords every time they are compared, so short texts are remembered (a bounded cache: 4,096 texts of at
    most CACHED_CHARS characters).
    """
    return _normalize_short(text) if len(text) <= CACHED_CHARS else _normalize(text)


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(_URDU_LETTERS).translate(_EASTERN_DIGITS)
    text = _DIACRITICS.sub("", text)
    text = _THOUSANDS.sub("", text)
    # Control, format (zero-width, bidi) and other invisible characters become separators.
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    return " ".join(_NON_WORD.sub(" ", text).split())


_normalize_short = lru_cache(maxsize=4096)(_normalize)


def forget_normalized() -> None:
    """Empty the cache of normalised short texts (the matching benchmark times normalising too)."""
    _normalize_short.cache_clear()


def phrases(words: Iterable[str]) -> tuple[str, ...]:
    """Normalised phrases for substring checks, longest first (so "roman urdu" is found before "urdu")."""
    return tuple(sorted({p for p in map(normalize_chars, words) if p}, key=len, reverse=True))


def script_of(text: str) -> str:
    """'ur' when most letters are Arabic script, else 'latin'."""
    urdu = len(_ARABIC_SCRIPT.findall(text))
    latin = len(_LATIN.findall(text.casefold()))
    return "ur" if urdu and urdu >= latin else "latin"


class PhraseFolder:
    """Folds spellings and multi-word phrases to canonical tokens, longest phrase first."""

    def __init__(self, spellings: Mapping[str, str], phrases: Mapping[tuple[str, ...], str]) -> None:
        self.spellings = dict(spellings)
        self.phrases = dict(phrases)
        self.max_len = max((len(p) for p in self.phrases), default=1)

    @classmethod
    def build(
        cls, spellings: Mapping[str, Iterable[str]], groups: Iterable[tuple[str, Iterable[str]]]
    ) -> tuple[PhraseFolder, list[str]]:
        """Build from {canonical: variants} groups; returns the folder and a list of conflicts."""
        spelling_map: dict[str, str] = {}
        for canonical, variants in spellings.items():
            for variant in variants:
                for token in normalize_chars(variant).split():
                    spelling_map[token] = normalize_chars(canonical)
        phrases: dict[tuple[str, ...], str] = {}
        conflicts: list[str] = []
        for canonical, variants in groups:
            for variant in [canonical.replace("_", " "), *variants]:
                key = tuple(spelling_map.get(t, t) for t in normalize_chars(variant).split())
                if not key:
                    continue
                previous = phrases.get(key)
                if previous is not None and previous != canonical:
                    conflicts.append(f"{' '.join(key)!r} means both {previous!r} and {canonical!r}")
                    continue
                phrases[key] = canonical
        return cls(spelling_map, phrases), conflicts

    def fold_spellings(self, tokens: Iterable[str]) -> list[str]:
        return [self.spellings.get(t, t) for t in tokens]

    def fold_phrases(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        n = len(tokens)
        while i < n:
            for length in range(min(self.max_len, n - i), 0, -1):
                canonical = self.phrases.get(tuple(tokens[i : i + length]))
                if canonical is not None:
                    out.append(canonical)
                    i += length
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out
