"""Train the decline classifier (knowledge/decline_classifier.py) on labelled dev sets and report how it generalises.

Run: .venv/bin/python benchmarks/train_decline.py benchmarks/blind_{1..16}.yaml [--write]

Rows are the dev questions (without earlier messages) that the matcher, without the classifier, answers from an
entry; the label is whether the set says the sources do not answer them (decline or out of scope). Features are
the masked tokens' words, word pairs and character n-grams (TF-IDF, sublinear tf), a logistic regression with
balanced classes. Before writing, every set is scored by a model trained on the other sets only (leave one set
out; questions whose text also appears in the scored set are left out of its training), counting only the questions
it may turn (the entry does not hold all their words), and the figures are printed beside the matcher without it:
declines it turns right and answers it turns into declines, per set and in all. --write then trains on every set
given and writes knowledge/data/decline_classifier.json. Never give it the final blind set: that one is scored once,
after, by bench_understanding.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.sparse import hstack  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from bot.settings import Settings  # noqa: E402
from knowledge.blind import load_blind  # noqa: E402
from knowledge.decline_classifier import char_features, word_features  # noqa: E402
from knowledge.loader import CLASSIFIER_FILE, load_knowledge  # noqa: E402
from knowledge.matcher import Matcher  # noqa: E402

C = 10.0  # inverse regularisation, chosen by the leave-one-set-out figures below (1, 3, 10 tried)
THRESHOLD = 0.75  # P(unsaid) to decline at, chosen the same way (0.6-0.9 tried; 0.7 up to blind_18)
MIN_DF = {"words": 2, "chars": 3}  # a feature must occur in this many training questions
THRESHOLDS = (0.6, 0.7, 0.75, 0.8, 0.9)


Row = tuple[str, list[str], bool, bool]


def rows(files: list[Path], matcher: Matcher) -> list[Row]:
    """(set, masked tokens, unsaid?, may the classifier apply?) for every question the matcher answers from an
    entry; it may not where the entry holds every word of the question (Matcher.unsaid_may_apply)."""
    out = []
    for path in files:
        for item in load_blind(path):
            if item.context:
                continue
            match = matcher.match(item.text)
            if match.intent != "answer" or match.entry_id is None:
                continue
            analysis = matcher.analyse(item.text)
            applies = matcher.unsaid_may_apply(match, analysis.content)
            out.append(
                (path.stem, matcher.masked(analysis.tokens), item.expect in ("decline", "out_of_scope"), applies)
            )
    return out


def fit(tokens: list[list[str]], labels: np.ndarray) -> tuple[TfidfVectorizer, TfidfVectorizer, LogisticRegression]:
    words = TfidfVectorizer(analyzer=word_features, min_df=MIN_DF["words"], sublinear_tf=True)
    chars = TfidfVectorizer(analyzer=char_features, min_df=MIN_DF["chars"], sublinear_tf=True)
    x = hstack([words.fit_transform(tokens), chars.fit_transform(tokens)]).tocsr()
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(x, labels)
    return words, chars, model


def predict(fitted: tuple[TfidfVectorizer, TfidfVectorizer, LogisticRegression], tokens: list[list[str]]) -> np.ndarray:
    words, chars, model = fitted
    return model.predict_proba(hstack([words.transform(tokens), chars.transform(tokens)]).tocsr())[:, 1]


def leave_one_set_out(data: list[Row]) -> np.ndarray:
    sets = np.array([d[0] for d in data])
    labels = np.array([d[2] for d in data])
    keys = [" ".join(d[1]) for d in data]
    probs = np.zeros(len(data))
    for name in dict.fromkeys(sets):
        scored = sets == name
        seen = {keys[i] for i in np.flatnonzero(scored)}
        train = (sets != name) & np.array([k not in seen for k in keys])
        fitted = fit([data[i][1] for i in np.flatnonzero(train)], labels[train])
        probs[scored] = predict(fitted, [data[i][1] for i in np.flatnonzero(scored)])
    return probs


def report(data: list[Row], probs: np.ndarray) -> None:
    sets = np.array([d[0] for d in data])
    labels = np.array([d[2] for d in data])
    print(f"{len(data)} questions the matcher answers from an entry; {labels.sum()} of them labelled unanswered")
    print("without the classifier: 0 declines turned right, 0 answers turned into declines")
    applies = np.array([d[3] for d in data])
    for threshold in THRESHOLDS:
        flip = (probs >= threshold) & applies
        mark = "  <- used" if threshold == THRESHOLD else ""
        print(
            f"leave one set out, P >= {threshold:.2f}: {int((flip & labels).sum())} declines turned right, "
            f"{int((flip & ~labels).sum())} answers turned into declines{mark}"
        )
    flip = (probs >= THRESHOLD) & applies
    for name in dict.fromkeys(sets):
        here = sets == name
        print(f"  {name:10} +{int((flip & labels & here).sum())} / -{int((flip & ~labels & here).sum())}")


def write(data: list[Row], files: list[Path], path: Path) -> None:
    labels = np.array([d[2] for d in data])
    words, chars, model = fit([d[1] for d in data], labels)
    coef = model.coef_[0]
    n_words = len(words.vocabulary_)

    def block(vectorizer: TfidfVectorizer, offset: int) -> dict[str, dict[str, list[float]]]:
        weights = {
            feature: [round(float(vectorizer.idf_[i]), 4), round(float(coef[offset + i]), 4)]
            for feature, i in sorted(vectorizer.vocabulary_.items())
        }
        return {"weights": weights}

    document = {
        "note": "Written by benchmarks/train_decline.py (the decline classifier's weights); do not edit by hand.",
        "trained_on": [f.name for f in files],
        "threshold": THRESHOLD,
        "intercept": round(float(model.intercept_[0]), 4),
        "words": block(words, 0),
        "chars": block(chars, n_words),
    }
    text = json.dumps(document, ensure_ascii=False, indent=0, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {path} ({len(files)} sets, {len(data)} questions, {len(coef)} features)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+", help="labelled dev sets (benchmarks/blind_*.yaml)")
    parser.add_argument("--write", action="store_true", help=f"train on all FILES and write {CLASSIFIER_FILE}")
    args = parser.parse_args()
    settings = Settings()
    kb = load_knowledge(settings.knowledge_dir, settings.sources_dir)
    matcher = Matcher(replace(kb, decline_classifier=None))
    data = rows(args.files, matcher)
    report(data, leave_one_set_out(data))
    if args.write:
        write(data, args.files, settings.knowledge_dir / CLASSIFIER_FILE)


if __name__ == "__main__":
    main()
