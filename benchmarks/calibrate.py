"""Choose the matcher's decision thresholds (knowledge/data/calibration.yaml) on labelled dev sets.

Run: .venv/bin/python benchmarks/calibrate.py benchmarks/blind_1.yaml [--write]

Coordinate search: each threshold in turn is tried at a few values around the current one, keeping the value that
scores best on the dev sets (through the whole core, judged as `sahulat eval` judges), for two passes. Only dev sets
go in here; the final blind set is scored once, after, and never calibrated on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.core import build_core, load_kb  # noqa: E402
from bot.evaluation import run_blind  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.settings import Settings  # noqa: E402
from knowledge.blind import BlindItem, load_blind  # noqa: E402
from knowledge.schema import Calibration  # noqa: E402

STEPS = {
    "answer_threshold": (-0.1, -0.05, 0.05, 0.1),
    "answer_margin": (-0.04, -0.02, 0.02, 0.04),
    "full_coverage": (-0.1, -0.05, 0.05, 0.1),
    "clarify_threshold": (-0.1, -0.05, 0.05, 0.1),
    "clarify_window": (-0.06, -0.03, 0.03, 0.06),
    "long_margin_ratio": (-0.1, -0.05, 0.05),
    "answer_weight": (-0.15, -0.05, 0.05, 0.15),
    "answer_bonus": (-0.05, 0.05, 0.1),
    "answer_words": (-0.05, 0.05),
    "min_precision": (-0.2, -0.1, 0.1, 0.2),
}


async def search(items: list[BlindItem], settings: Settings, url: str, passes: int) -> tuple[Calibration, float]:
    kb, matcher = load_kb(settings)
    core = build_core(settings, database_url=url, knowledge=(kb, matcher))

    async def score(calibration: Calibration) -> float:
        matcher.recalibrate(calibration)
        return (await run_blind(core.dispatcher, items, "dev")).accuracy

    try:
        best = kb.calibration
        best_score = await score(best)
        print(f"start: {100 * best_score:.1f}%  {best.model_dump()}")
        for _ in range(passes):
            for name, deltas in STEPS.items():
                for delta in deltas:
                    value = round(getattr(best, name) + delta, 3)
                    try:
                        candidate = best.model_copy(update={name: value})
                        Calibration.model_validate(candidate.model_dump())
                    except ValueError:
                        continue
                    result = await score(candidate)
                    if result > best_score:
                        best, best_score = candidate, result
                        print(f"  {name} = {value}: {100 * result:.1f}%")
        return best, best_score
    finally:
        await core.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="dev blind sets")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write knowledge/data/calibration.yaml")
    args = parser.parse_args()
    settings = Settings()
    items = [item for path in args.files for item in load_blind(path)]
    with tempfile.TemporaryDirectory(prefix="sahulat-calibrate-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'calibrate.db'}"
        upgrade(url)
        best, score = asyncio.run(search(items, settings, url, args.passes))
    print(f"best: {100 * score:.1f}% on {', '.join(p.name for p in args.files)}")
    values = best.model_dump()
    print(yaml.safe_dump(values, sort_keys=False))
    if args.write:
        target = settings.knowledge_dir / "calibration.yaml"
        header = (
            "# The matcher's decision thresholds, chosen by benchmarks/calibrate.py on the dev sets named below.\n"
            f"# Dev sets: {', '.join(p.name for p in args.files)} ({len(items)} questions, {100 * score:.1f}%).\n"
        )
        target.write_text(header + yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
        print(f"written: {target}")


if __name__ == "__main__":
    main()
