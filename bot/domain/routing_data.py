"""The routing defaults and the holiday calendar, read from knowledge/data/routing.yaml and holidays.yaml.

Checked as they load, so a typo stops the start with the file and the entry named, instead of silently sending
complaints nowhere. The bodies and rules are only defaults (copied to the database once); the deadlines and
holidays are read from here on every start.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.yaml_file import load_yaml

ROUTING_FILE = "routing.yaml"
HOLIDAYS_FILE = "holidays.yaml"


class RoutingDataError(ValueError):
    """A routing or holiday file that cannot serve; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Strict):
    en: str = Field(min_length=1, max_length=200)
    ur: str = Field(min_length=1, max_length=200)
    roman: str = Field(min_length=1, max_length=200)


class BodyDefault(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    name: Names
    province: str | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RuleDefault(_Strict):
    category: str = Field(min_length=1, max_length=64)
    body: str
    province: str | None = None
    district: str | None = None


class Deadlines(_Strict):
    default_working_days: int = Field(default=20, ge=1, le=365)
    categories: dict[str, int] = Field(default_factory=dict)
    due_soon_days: int = Field(default=3, ge=0, le=60)
    admins_after_working_days: int = Field(default=5, ge=1, le=365)

    def working_days(self, category: str) -> int:
        return self.categories.get(category, self.default_working_days)


class Holiday(_Strict):
    date: dt.date
    name: str = Field(min_length=1)
    approximate: bool = False


class RoutingData(_Strict):
    bodies: tuple[BodyDefault, ...]
    rules: tuple[RuleDefault, ...]
    deadlines: Deadlines = Deadlines()
    holidays: frozenset[dt.date] = frozenset()


def _read(path: Path) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RoutingDataError(f"{path.name}: cannot read: {exc}") from exc


def _entry(model: type[BaseModel], raw: Any, label: str) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
        raise RoutingDataError(f"{label}: {problems}") from exc


def _list(raw: Any, key: str, file: str) -> list[Any]:
    items = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise RoutingDataError(f"{file}: '{key}' must be a list")
    return items


def parse_routing(
    raw: Any, holidays_raw: Any, *, categories: Iterable[str] = (), provinces: Iterable[str] = ()
) -> RoutingData:
    """Check both files' contents; `categories` and `provinces`, when given, are the only names rules may use."""
    bodies: list[BodyDefault] = []
    for i, item in enumerate(_list(raw, "bodies", ROUTING_FILE)):
        label = f"{ROUTING_FILE}: bodies[{i}]" + (f" ({item.get('id')})" if isinstance(item, dict) else "")
        body = _entry(BodyDefault, item, label)
        if body.id in {b.id for b in bodies}:
            raise RoutingDataError(f"{label}: the id {body.id!r} is used twice")
        bodies.append(body)
    known_categories, known_provinces = set(categories), set(provinces)
    rules: list[RuleDefault] = []
    for i, item in enumerate(_list(raw, "rules", ROUTING_FILE)):
        label = f"{ROUTING_FILE}: rules[{i}]"
        rule = _entry(RuleDefault, item, label)
        if rule.body not in {b.id for b in bodies}:
            raise RoutingDataError(f"{label}: unknown body {rule.body!r}")
        if known_categories and rule.category not in known_categories:
            raise RoutingDataError(f"{label}: unknown category {rule.category!r}")
        if known_provinces and rule.province is not None and rule.province not in known_provinces:
            raise RoutingDataError(f"{label}: unknown province {rule.province!r}")
        key = (rule.category, rule.province, rule.district)
        if key in {(r.category, r.province, r.district) for r in rules}:
            raise RoutingDataError(f"{label}: a second rule for the same category and place")
        rules.append(rule)
    deadlines = _entry(Deadlines, (raw or {}).get("deadlines") or {}, f"{ROUTING_FILE}: deadlines")
    for code, count in deadlines.categories.items():  # a typo would silently give the default
        if known_categories and code not in known_categories:
            raise RoutingDataError(f"{ROUTING_FILE}: deadlines: categories: unknown category {code!r}")
        if not 1 <= count <= 365:
            raise RoutingDataError(f"{ROUTING_FILE}: deadlines: categories: {code}: working days must be 1 to 365")
    days: set[dt.date] = set()
    for i, item in enumerate(_list(holidays_raw, "holidays", HOLIDAYS_FILE)):
        days.add(_entry(Holiday, item, f"{HOLIDAYS_FILE}: holidays[{i}]").date)
    return RoutingData(bodies=tuple(bodies), rules=tuple(rules), deadlines=deadlines, holidays=frozenset(days))


def _names(directory: Path) -> tuple[set[str], set[str]]:
    """The service codes and provinces the knowledge base knows, read from its files."""
    services = _read(directory / "services.yaml") or {}
    places = _read(directory / "places.yaml") or {}
    codes = {s["code"] for s in services.get("services", []) if isinstance(s, dict) and "code" in s}
    provinces = {p["province"] for p in places.get("places", []) if isinstance(p, dict) and "province" in p}
    return codes, provinces


@lru_cache(maxsize=8)
def load_routing(directory: Path) -> RoutingData:
    """routing.yaml and holidays.yaml from `directory` (KNOWLEDGE_DIR), checked; raises RoutingDataError."""
    categories, provinces = _names(directory)
    return parse_routing(
        _read(directory / ROUTING_FILE),
        _read(directory / HOLIDAYS_FILE),
        categories=categories,
        provinces=provinces,
    )
