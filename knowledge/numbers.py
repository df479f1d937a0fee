"""Numbers written as words ("nineteen thousand five hundred", "unees hazar panch so", "ایک ہزار") read as digits, so
a message matches the figures the sources give ("19,500", "1,000").

Only a run of two or more number words holding a multiplier (hundred, thousand, lakh; sau, hazar; سو، ہزار), or a
lone number word between eleven and ninety-nine, is read: a lone "do" is Roman Urdu's "two" and also "give", and a
lone "so" is English.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from knowledge.schema import Park

MULTIPLIERS = {"hundred": 100, "thousand": 1000, "lakh": 100_000, "lac": 100_000, "million": 1_000_000}


def read_numbers(tokens: list[str], words: Mapping[str, int]) -> list[str]:
    """`tokens` with each run of number words that is surely a number replaced by its digits."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        values = [words[t] for t in run]
        multiplied = len(values) >= 2 and any(v >= 100 for v in values)  # "ek hazar", not a lone "so"
        if multiplied or (len(values) == 1 and 10 < values[0] < 100):  # "unees", "twenty"
            out.append(str(_value(values)))
        else:
            out.extend(run)
        run.clear()

    for token in tokens:
        if token in words:
            run.append(token)
        else:
            flush()
            out.append(token)
    flush()
    return out


def _value(values: list[int]) -> int:
    """The number a run of number words says: "unees hazar panch so" is 19 x 1000 + 5 x 100."""
    total = current = 0
    for value in values:
        if value == 100:
            current = (current or 1) * 100
        elif value >= 1000:
            total += (current or 1) * value
            current = 0
        else:
            current += value
    return total + current


def park_figures(parks: Iterable[Park]) -> dict[str, str]:
    """A park's figures (its floor area) as a message writes them ("44000") -> the park's place, for a figure that
    belongs to one place only: a question may name a park by its size ("which park is 19,500 sq ft")."""
    places: dict[str, set[str]] = {}
    for park in parks:
        if park.area_sqft:
            places.setdefault(str(park.area_sqft), set()).add(park.place)
    return {figure: next(iter(owners)) for figure, owners in places.items() if len(owners) == 1}
