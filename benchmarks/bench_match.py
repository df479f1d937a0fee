"""Matching latency (p50, p99) and memory on the real knowledge base and on synthetic ones.

Run: .venv/bin/python benchmarks/bench_match.py [--sizes 1000 10000] [--rounds 5]
Targets (issue 18): a message's whole reading (Matcher.understand) p99 at most 30 ms on the 2-core machine.
Prints figures only; nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import string
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_understanding import TfidfBaseline  # noqa: E402

from bot.settings import Settings  # noqa: E402
from knowledge.blind import load_blind  # noqa: E402
from knowledge.evaluate import load_questions  # noqa: E402
from knowledge.loader import KnowledgeBase, load_knowledge  # noqa: E402
from knowledge.matcher import Matcher  # noqa: E402
from knowledge.normalize import forget_normalized  # noqa: E402
from knowledge.schema import Entry, LocalText, Questions  # noqa: E402

URDU_LETTERS = "ابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنوہیے"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def synthetic_kb(base: KnowledgeBase, size: int, rng: random.Random) -> KnowledgeBase:
    """`size` extra entries whose variants mix real domain words with a large invented vocabulary."""
    latin = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(size * 2)]
    urdu = ["".join(rng.choices(URDU_LETTERS, k=rng.randint(3, 7))) for _ in range(size * 2)]
    common = ["fee", "registration", "park", "pseb", "startup", "company", "kp", "punjab", "programme"]
    entries = dict(base.entries)
    for i in range(size):
        topic = rng.sample(latin, 3)
        topic_ur = rng.sample(urdu, 3)

        def variant(words: list[str]) -> str:
            return " ".join(words + rng.sample(common, 1) + rng.sample(latin, 1))

        entry_id = f"synthetic_{i}"
        entries[entry_id] = Entry(
            id=entry_id,
            topic="general",
            questions=Questions(
                en=[variant(topic), variant(topic[:2]), "what is " + " ".join(topic)],
                roman=[" ".join(topic) + " kya hai"],
                ur=[" ".join(topic_ur) + " کیا ہے", " ".join(topic_ur[:2])],
            ),
            answer=LocalText(en="synthetic", ur="مصنوعی", roman="synthetic"),
            sources=[next(iter(base.sources))],
        )
    return replace(base, entries=entries)


def typo(text: str, rng: random.Random) -> str:
    words = text.split()
    i = rng.randrange(len(words))
    word = words[i]
    if len(word) > 5:
        j = rng.randrange(1, len(word) - 1)
        words[i] = word[:j] + word[j + 1 :]
    return " ".join(words)


def milliseconds(
    read: Callable[[str], object], questions: list[str], before: Callable[[], None] | None = None
) -> list[float]:
    """How long `read` takes on each question (`before` runs first, outside the timing)."""
    timings = []
    for question in questions:
        if before is not None:
            before()
        t0 = time.perf_counter()
        read(question)
        timings.append((time.perf_counter() - t0) * 1000)
    return timings


def measure(name: str, kb: KnowledgeBase, questions: list[str], rounds: int) -> None:
    started = time.perf_counter()
    matcher = Matcher(kb)
    build = time.perf_counter() - started
    tracemalloc.start()
    Matcher(kb)  # again under tracemalloc, which slows it down, for the memory figure only
    _, build_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    for question in questions:  # warm-up: fills the typo-correction cache as a running process would
        matcher.understand(question)
    # `understand`: all the reading a message gets (its intents, the question, several questions in it, a
    # follow-up against the previous question), without the cache of whole messages that `match` keeps, nor the
    # cache of normalised texts (both emptied before each message, outside the timing).
    timings = []
    for _ in range(rounds):
        previous = None
        for question in questions:
            forget_normalized()
            matcher.forget()
            t0 = time.perf_counter()
            matcher.understand(question, previous)
            timings.append((time.perf_counter() - t0) * 1000)
            previous = question
    cold = Matcher(kb)
    cold_timings = milliseconds(cold.understand, questions, before=forget_normalized)
    for question in questions:
        matcher.match(question)
    repeated = milliseconds(matcher.match, questions)  # a message text seen before: answered from the cache
    print(
        f"{name:>22}: entries={len(kb.entries):>6} variants={len(matcher.variants):>6} "
        f"build={build * 1000:7.1f} ms build_peak_mem={build_peak / 2**20:6.1f} MiB | "
        f"p50={statistics.median(timings):6.3f} ms p99={percentile(timings, 99):6.3f} ms "
        f"max={max(timings):6.3f} ms | first-seen p99={percentile(cold_timings, 99):6.3f} ms | "
        f"repeated text p50={statistics.median(repeated) * 1000:5.1f} us "
        f"(n={len(timings)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    settings = Settings()
    kb = load_knowledge(settings.knowledge_dir, settings.sources_dir)
    labelled = [q.q for q in load_questions(ROOT / "benchmarks" / "questions.yaml")]
    labelled += [item.text for item in load_blind(ROOT / "benchmarks" / "blind_1.yaml")]
    rng = random.Random(7)
    print(f"python {sys.version.split()[0]}; {len(labelled)} questions (labelled and blind_1); {args.rounds} rounds")
    measure("real knowledge base", kb, labelled, args.rounds)
    baseline = TfidfBaseline(kb)  # the same questions through the plain TF-IDF baseline, for comparison
    timings = milliseconds(baseline.best, labelled)
    print(
        f"{'TF-IDF baseline':>22}: p50={statistics.median(timings):6.3f} ms p99={percentile(timings, 99):6.3f} ms "
        f"(char_wb 2-4 over the variants, scikit-learn)"
    )
    for size in args.sizes:
        big = synthetic_kb(kb, size, rng)
        synthetic = [e for e in big.entries.values() if e.id.startswith("synthetic_")]
        probes = [typo(rng.choice(e.questions.en), rng) for e in rng.sample(synthetic, 200)]
        probes += [rng.choice(e.questions.ur) for e in rng.sample(synthetic, 50)]
        measure(f"synthetic +{size}", big, labelled + probes, args.rounds)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_rss:.0f} MiB")


if __name__ == "__main__":
    main()
