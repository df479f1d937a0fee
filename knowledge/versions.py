"""Which version of the knowledge base is deployed: a SHA-256 per data file, so a change can be recorded (the audit
trail's "knowledge_changed") and shown file by file."""

from __future__ import annotations

import hashlib
from pathlib import Path

SHORT = 16  # hex digits of a file's hash kept in the record: enough to tell versions apart


def fingerprint(knowledge_dir: Path) -> dict[str, str]:
    """Each YAML file under `knowledge_dir` (by its path relative to it) and the start of its SHA-256."""
    return {
        path.relative_to(knowledge_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:SHORT]
        for path in sorted(knowledge_dir.rglob("*.yaml"))
    }
