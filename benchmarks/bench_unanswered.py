"""The staff's unanswered-questions queue under a flood: how long grouping takes with 10,000 open questions.

Run: .venv/bin/python benchmarks/bench_unanswered.py [--questions 10000] [--baseline-rows 1000]

Citizens write these rows (issue 20, finding 1): grouping used to compare every question with every group, on the
event loop. Seeds a throwaway SQLite database with `--questions` open questions (realistic wordings with typos and
numbers, many distinct), then times the page's work, `bot.staff.unanswered.open_groups` (the newest MAX_ROWS read,
grouped within a fixed budget of fuzzy comparisons, in a thread), and, as the baseline in the same run, the same
grouping with no budget on `--baseline-rows` rows (what every view cost before).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import SQLModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import Database  # noqa: E402
from bot.models import UnansweredQuestion, utcnow  # noqa: E402
from bot.staff import unanswered  # noqa: E402

WORDS = (
    "pseb stp park fee registration renewal office helpline number address karachi lahore quetta peshawar swat "
    "kab kahan kitni kya hai mein startup freelancer company license tax visa salary job training e-rozgar "
    "digital jobs plan-9 e-stamping centre timing open close apply documents eligibility rent space building"
).split()


def question(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(3, 14))
    if rng.random() < 0.3:
        words.append(str(rng.randint(1, 99999)))
    text = " ".join(words)
    if rng.random() < 0.3:  # a typo
        at = rng.randrange(len(text))
        text = text[:at] + rng.choice("aeiouxyz") + text[at + 1 :]
    return text


async def seed(db: Database, count: int) -> list[UnansweredQuestion]:
    rng = random.Random(7)
    now = utcnow()
    rows = []
    for index in range(count):
        text = question(rng)
        rows.append(
            UnansweredQuestion(
                channel="whatsapp", text=text, normalized=text, language="en", intent="out_of_scope", created_at=now
            )
        )
        rows[-1].id = index + 1
    async with db.session() as session, session.begin():
        session.add_all([row.model_copy() for row in rows])
    return rows


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        async with db.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        rows = await seed(db, args.questions)
        async with db.session() as session:
            start = time.perf_counter()
            groups = await unanswered.open_groups(session)
            page = time.perf_counter() - start
        print(f"{args.questions} open questions (the newest {unanswered.MAX_ROWS} considered)")
        print(f"  product: read and grouped in {page:.2f} s; {len(groups)} groups")
        sample = rows[: args.baseline_rows]
        start = time.perf_counter()
        unbounded = unanswered.group_questions(sample, budget=10**12)
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        bounded = unanswered.group_questions(sample)
        same_rows = time.perf_counter() - start
        print(
            f"  baseline (no comparison budget) on {len(sample)} rows: {baseline:.2f} s, {len(unbounded)} groups; "
            f"product on the same rows: {same_rows:.2f} s, {len(bounded)} groups"
        )
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--baseline-rows", type=int, default=1_000)
    asyncio.run(main(parser.parse_args()))
