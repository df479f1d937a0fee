"""Load and validate the knowledge base: every problem is reported with its file and entry, all at once."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from knowledge.decline_classifier import DeclineClassifier
from knowledge.parks import build_park_entries, province_key
from knowledge.schema import (
    Calibration,
    CityClass,
    CityClassesFile,
    EntriesFile,
    Entry,
    HandoverFile,
    LexiconFile,
    Park,
    ParksFile,
    Place,
    PlacesFile,
    Programme,
    ProgrammesFile,
    Service,
    ServicesFile,
    Source,
    SourcesFile,
    TextsFile,
)
from knowledge.texts import Texts
from knowledge.yaml_file import load_yaml

M = TypeVar("M", bound=BaseModel)
CLASSIFIER_FILE = "decline_classifier.json"  # weights written by benchmarks/train_decline.py; JSON parses 50x faster


class KnowledgeError(Exception):
    """The knowledge base is invalid; `problems` names each file and entry at fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid knowledge base:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass
class KnowledgeBase:
    """Everything the bot knows, validated; entries include the per-city park answers built from parks."""

    directory: Path
    sources: dict[str, Source]
    entries: dict[str, Entry]
    places: dict[str, Place]
    parks: list[Park]
    lexicon: LexiconFile
    texts: Texts
    programmes: list[Programme] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    city_classes: dict[str, CityClass] = field(default_factory=dict)
    calibration: Calibration = field(default_factory=Calibration)
    handover: HandoverFile | None = None  # how citizens ask for a person, and for the bot back
    decline_classifier: DeclineClassifier | None = None  # questions the sources leave unanswered (optional file)
    _answers: dict[tuple[str, str], str] = field(default_factory=dict, repr=False, compare=False)

    def source_line(self, entry: Entry, lang: str) -> str:
        """ "Source: PSEB announcement, 12 Jan 2021" (or "Sources: ..." when several back the answer)."""
        return self.cite(entry.sources, lang)

    def cite(self, files: list[str], lang: str) -> str:
        """The source line for these source files, oldest first, each named once."""
        comma = self.texts.separator("comma", lang)
        ordered = sorted(set(files), key=lambda f: (self.sources[f].date or dt.date.max, f))
        items = [
            f"{self.sources[f].title.get(lang)}{comma}{self.texts.date(self.sources[f].date, lang)}" for f in ordered
        ]
        key = "source_line" if len(items) == 1 else "sources_line"
        return self.texts(key, lang, sources=self.texts.separator("semicolon", lang).join(items))

    def answer(self, entry_id: str, lang: str) -> str:
        """The entry's answer in `lang`, ending with its source line (worked out once: the base does not change
        while a process runs, and most messages end here)."""
        key = (entry_id, lang)
        text = self._answers.get(key)
        if text is None:
            entry = self.entries[entry_id]
            text = self._answers[key] = f"{entry.answer.get(lang)}\n\n{self.source_line(entry, lang)}"
        return text

    def places_with_parks(self) -> set[str]:
        return {park.place for park in self.parks}

    def parks_in(self, place_id: str) -> list[Park]:
        return [park for park in self.parks if park.place == place_id]


def _relative(path: Path, root: Path) -> str:
    """The path as the user would type it from the current directory (absolute if outside it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_data(path: Path, root: Path, problems: list[str], kind: str = "YAML") -> Any:
    """A data file's content (YAML, or JSON for the classifier's weights), or None with the problem noted."""
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle) if kind == "JSON" else load_yaml(handle)
    except FileNotFoundError:
        problems.append(f"{_relative(path, root)}: file is missing")
    except OSError as exc:  # a directory that is a file, no permission: said like any other problem
        problems.append(f"{_relative(path, root)}: cannot be read ({exc.strerror or type(exc).__name__})")
    except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:  # json's JSONDecodeError is a ValueError
        problems.append(f"{_relative(path, root)}: not valid {kind}: {exc}".replace("\n", " "))
    return None


def _item_label(raw: Any, loc: tuple[Any, ...]) -> str:
    """'entry 'fee_startup' (#3)' for an error inside a list of records, else ''."""
    if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(raw, dict):
        items = raw.get(loc[0])
        if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict):
            item = items[loc[1]]
            ident = item.get("id") or item.get("file") or item.get("code") or item.get("entry") or item.get("place")
            kind = {
                "entries": "entry",
                "places": "place",
                "parks": "park",
                "sources": "source",
                "services": "service",
                "programmes": "programme",
                "cities": "city",
            }.get(loc[0], "item")
            return f"{kind} {ident!r} (#{loc[1] + 1})" if ident else f"{kind} #{loc[1] + 1}"
    return ""


def _parse(model: type[M], raw: Any, path: Path, root: Path, problems: list[str]) -> M | None:
    if raw is None:
        problems.append(f"{_relative(path, root)}: file is empty")
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            label = _item_label(raw, loc)
            where = ".".join(str(part) for part in (loc[2:] if label else loc))
            prefix = f"{_relative(path, root)}: " + (f"{label}: " if label else "")
            problems.append(f"{prefix}{where}: {error['msg']}" if where else f"{prefix}{error['msg']}")
        return None


def _duplicates(ids: Iterable[tuple[str, str]], kind: str) -> list[str]:
    seen: dict[str, str] = {}
    problems = []
    for ident, where in ids:
        if ident in seen:
            problems.append(f"{where}: duplicate {kind} id {ident!r} (also in {seen[ident]})")
        else:
            seen[ident] = where
    return problems


def load_knowledge(directory: Path, sources_dir: Path | None = None) -> KnowledgeBase:
    """Load every YAML file under `directory`; raise KnowledgeError listing all problems found.

    `sources_dir`, when it exists, is checked to hold every source document the registry names.
    """
    directory = Path(directory)
    problems: list[str] = []

    def load(name: str, model: type[M]) -> M | None:
        path = directory / name
        return _parse(model, _read_data(path, directory, problems), path, directory, problems)

    sources_file = load("sources.yaml", SourcesFile)
    places_file = load("places.yaml", PlacesFile)
    parks_file = load("parks.yaml", ParksFile)
    lexicon = load("lexicon.yaml", LexiconFile)
    texts_file = load("texts.yaml", TextsFile)
    programmes_file = load("programmes.yaml", ProgrammesFile)
    classes_file = load("city_classes.yaml", CityClassesFile)
    services_file = load("services.yaml", ServicesFile)
    handover = load("handover.yaml", HandoverFile)
    calibration = load("calibration.yaml", Calibration) if (directory / "calibration.yaml").exists() else Calibration()
    weights = directory / CLASSIFIER_FILE
    read = _read_data(weights, directory, problems, kind="JSON") if weights.exists() else None
    declines = _parse(DeclineClassifier, read, weights, directory, problems) if read is not None else None

    entries: list[tuple[Entry, str]] = []
    entry_files = sorted((directory / "entries").glob("*.yaml"))
    if not entry_files:
        problems.append(f"{_relative(directory / 'entries', directory)}: no entry files")
    for path in entry_files:
        parsed = _parse(EntriesFile, _read_data(path, directory, problems), path, directory, problems)
        if parsed:
            entries.extend((entry, _relative(path, directory)) for entry in parsed.entries)

    sources = {s.file: s for s in sources_file.sources} if sources_file else {}
    places = {p.id: p for p in places_file.places} if places_file else {}
    parks = list(parks_file.parks) if parks_file else []
    texts = Texts(texts_file) if texts_file else None

    if sources_file:
        problems += _duplicates(((s.file, "sources.yaml") for s in sources_file.sources), "source")
        if sources_dir is not None and Path(sources_dir).is_dir():
            for name in sources:
                if not (Path(sources_dir) / name).is_file():
                    problems.append(f"sources.yaml: source {name!r}: no such file in {sources_dir}")
    if places_file:
        problems += _duplicates(((p.id, "places.yaml") for p in places_file.places), "place")
    problems += _duplicates(((p.id, "parks.yaml") for p in parks), "park")
    for park in parks:
        if park.place not in places:
            problems.append(f"parks.yaml: park {park.id!r}: unknown place {park.place!r}")
        if park.source not in sources:
            problems.append(f"parks.yaml: park {park.id!r}: unknown source file {park.source!r}")
    for entry, where in entries:
        for name in entry.sources:
            if name not in sources:
                problems.append(f"{where}: entry {entry.id!r}: unknown source file {name!r}")
        for place in entry.places:
            if place not in places:
                problems.append(f"{where}: entry {entry.id!r}: unknown place {place!r}")
    if texts is not None:
        for key in texts.missing():
            problems.append(f"texts.yaml: text {key!r} is missing")
        for place in places.values():
            if province_key(place.province) not in texts:
                problems.append(f"places.yaml: place {place.id!r}: no text {province_key(place.province)!r}")
        if texts.bad_months():
            problems.append("texts.yaml: months: need 12 comma-separated names in each language")
        if texts.bad_weekdays():
            problems.append("texts.yaml: weekdays: need 7 comma-separated names in each language, Monday first")

    programmes = list(programmes_file.programmes) if programmes_file else []
    entry_ids = {entry.id for entry, _ in entries}
    for programme in programmes:
        if programme.entry not in entry_ids:
            problems.append(f"programmes.yaml: programme {programme.entry!r}: no such entry")
        for province in programme.provinces:
            if texts is not None and province_key(province) not in texts:
                problems.append(f"programmes.yaml: programme {programme.entry!r}: unknown province {province!r}")
    city_classes = {c.place: c for c in classes_file.cities} if classes_file else {}
    for city in city_classes.values():
        if city.place not in places:
            problems.append(f"city_classes.yaml: unknown place {city.place!r}")
        if city.source not in sources:
            problems.append(f"city_classes.yaml: place {city.place!r}: unknown source file {city.source!r}")
    services = {s.code: s for s in services_file.services} if services_file else {}
    if services_file:
        problems += _duplicates(((s.code, "services.yaml") for s in services_file.services), "service")
        for service in services_file.services:
            for question in service.questions:
                if (question.datatype == "singlevaluelist") != bool(question.values):
                    problems.append(
                        f"services.yaml: service {service.code!r}: question {question.key!r}: "
                        "values are required for singlevaluelist and only for it"
                    )
    if lexicon and texts:
        facets = {*lexicon.unsupported_facets, *lexicon.facets_together, *lexicon.entry_facets}
        for facet in sorted(facets):
            if f"facet_{facet}" not in texts:
                problems.append(f"lexicon.yaml: facet {facet!r}: no text 'facet_{facet}' in texts.yaml")
        for token, province in lexicon.provinces.items():
            if province_key(province) not in texts:
                problems.append(f"lexicon.yaml: provinces: {token!r}: unknown province {province!r}")

    if lexicon and texts and not problems:
        dates = {name: source.date for name, source in sources.items()}
        generated = build_park_entries(parks, places, lexicon, texts, dates)
        entries += [(entry, "parks.yaml (generated)") for entry in generated]
    problems += _duplicates(((e.id, where) for e, where in entries), "entry")

    if problems or not (lexicon and texts and handover):
        raise KnowledgeError(problems)
    return KnowledgeBase(
        directory=directory,
        sources=sources,
        entries={entry.id: entry for entry, _ in entries},
        places=places,
        parks=parks,
        lexicon=lexicon,
        texts=texts,
        programmes=programmes,
        city_classes=city_classes,
        services=services,
        calibration=calibration or Calibration(),
        handover=handover,
        decline_classifier=declines,
    )
