"""Questions about a known thing that ask what the sources leave unsaid, told by a classifier trained on labels.

"pindi stp me office lene ka tareeqa kya hai" names the Rawalpindi park, and the park's entry is the closest
answer; but it asks how to get an office there, which no source says. Phrase lists of such facets (facets.py)
miss every new wording. This is a logistic regression over the message's words, word pairs and character
n-grams, trained by `benchmarks/train_decline.py` on the labelled dev sets: among the questions the matcher would
answer, which ones the labels say the sources do not answer. Places and names are masked first (PLACE, NAME), so
it learns the asking, not the thing asked about. The weights are data (`knowledge/data/decline_classifier.json`);
scoring is plain Python, the same features the trainer used.
"""

from __future__ import annotations

import math

from pydantic import Field

from knowledge.schema import Strict

CHAR_SIZES = (3, 4, 5)


def word_features(tokens: list[str]) -> list[str]:
    """Words and adjacent word pairs."""
    return [*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))]


def char_features(tokens: list[str]) -> list[str]:
    """Character n-grams inside each word, padded with a space at both ends: robust to typos and inflections."""
    out: list[str] = []
    for token in tokens:
        padded = f" {token} "
        for size in CHAR_SIZES:
            out.extend(padded[i : i + size] for i in range(len(padded) - size + 1))
    return out


class FeatureBlock(Strict):
    """One TF-IDF block (sublinear tf, L2-normalised): each feature's [idf, coefficient]."""

    weights: dict[str, tuple[float, float]]


class DeclineClassifier(Strict):
    """decline_classifier.json: what `benchmarks/train_decline.py` wrote, and on which sets."""

    note: str = ""
    trained_on: list[str] = Field(min_length=1)
    threshold: float = Field(gt=0, lt=1)  # P(unsaid) at which an answer turns into a decline
    intercept: float
    words: FeatureBlock
    chars: FeatureBlock

    def probability(self, tokens: list[str]) -> float:
        """P(the sources leave this question unanswered), for a message's masked tokens."""
        z = self.intercept + _score(self.words, word_features(tokens)) + _score(self.chars, char_features(tokens))
        return 1 / (1 + math.exp(-z))

    def unsaid(self, tokens: list[str]) -> bool:
        return self.probability(tokens) >= self.threshold


def _score(block: FeatureBlock, features: list[str]) -> float:
    """The block's TF-IDF vector (sublinear tf, L2-normalised over the features it knows) dotted with the
    coefficients, as scikit-learn's TfidfVectorizer and LogisticRegression compute it."""
    weights = block.weights
    counts: dict[str, int] = {}
    for feature in features:
        if feature in weights:
            counts[feature] = counts.get(feature, 0) + 1
    squares = dot = 0.0
    for feature, n in counts.items():
        idf, coef = weights[feature]
        value = idf if n == 1 else idf * (1 + math.log(n))
        squares += value * value
        dot += value * coef
    return dot / math.sqrt(squares) if squares else 0.0
