"""Park finder: by city, district or province (typed or picked), or by a shared location."""

from __future__ import annotations

from handlers.context import Context
from handlers.flows.base import Flow
from handlers.messages import Location, Option, Outcome
from knowledge.geo import distance_km, nearest
from knowledge.parks import park_summary, province_key
from knowledge.schema import Place

PICKABLE_PROVINCES = ("Khyber Pakhtunkhwa", "Punjab", "Sindh", "Balochistan")
NEAREST = 3


def _province_label(ctx: Context, province: str) -> str:
    return ctx.t(province_key(province))


def _park_places(ctx: Context) -> list[Place]:
    return [ctx.kb.places[p] for p in sorted(ctx.kb.places_with_parks())]


def _lines(ctx: Context, places: list[Place]) -> tuple[list[str], list[str]]:
    """One summary line per place, and the source files behind them."""
    lines, files = [], []
    for place in places:
        parks = ctx.kb.parks_in(place.id)
        lines.append("• " + park_summary(place, parks, ctx.kb.texts, ctx.lang))
        files += [p.source for p in parks]
    return lines, files


def _city_options(ctx: Context, places: list[Place]) -> list[Option]:
    return [Option(place.name.get(ctx.lang), f"kb:park_{place.id}") for place in places]


def nearest_parks(ctx: Context, lat: float, lon: float, where: str, province: str | None = None) -> Outcome:
    """The parks nearest to a point, with distances; plus those planned in the point's province."""
    found = nearest(_park_places(ctx), lat, lon, NEAREST)
    lines = [ctx.t("parks_nearest_heading", where=where)]
    files: list[str] = []
    for place, km in found:
        summary, sources = _lines(ctx, [place])
        lines.append(f"{summary[0]} ({ctx.t('distance_km', km=round(km))})")
        files += sources
    if province:
        planned = [
            p
            for p in _park_places(ctx)
            if p.province == province
            and p not in [f[0] for f in found]
            and any(park.status in ("planned", "under_discussion") for park in ctx.kb.parks_in(p.id))
        ]
        if planned:
            extra, sources = _lines(ctx, planned)
            lines += ["", ctx.t("parks_planned_heading", province=_province_label(ctx, province)), *extra]
            files += sources
    text = "\n".join(lines) + "\n\n" + ctx.kb.cite(files, ctx.lang)
    options = _city_options(ctx, [place for place, _ in found])
    return ctx.outcome(text, options, intent="answer", entry_id="parks_nearest")


def parks_at_location(ctx: Context, location: Location) -> Outcome:
    """A shared location: the nearest parks, and the planned ones in the nearest known place's province."""
    located = [p for p in ctx.kb.places.values() if p.lat is not None and p.lon is not None]
    home = min(located, key=lambda p: distance_km(location.latitude, location.longitude, p.lat, p.lon))  # type: ignore[arg-type]
    return nearest_parks(ctx, location.latitude, location.longitude, ctx.t("your_location"), home.province)


class ParkFinderFlow(Flow):
    name = "parks"

    def _options(self, ctx: Context) -> list[Option]:
        provinces = [Option(_province_label(ctx, p), f"province:{p}") for p in PICKABLE_PROVINCES]
        return [*provinces, Option(ctx.t("parks_all"), "kb:parks_overview")]

    async def start(self, ctx: Context) -> Outcome:
        ctx.enter(self.name, "where", {})
        return ctx.outcome(ctx.t("parks_ask"), self._options(ctx), intent="parks")

    async def step(self, ctx: Context) -> Outcome:
        payload = ctx.payload or ""
        if ctx.msg.location:
            ctx.leave()
            return parks_at_location(ctx, ctx.msg.location)
        if payload.startswith("kb:") and payload[3:] in ctx.kb.entries:
            ctx.leave()
            entry_id = payload[3:]
            return ctx.outcome(ctx.kb.answer(entry_id, ctx.lang), intent="answer", entry_id=entry_id)
        places = ctx.matcher.places_in(ctx.text)
        provinces = [payload.removeprefix("province:")] if payload.startswith("province:") else []
        if places:
            ctx.leave()
            return self._place(ctx, ctx.kb.places[places[0]])
        provinces = provinces or ctx.matcher.provinces_in(ctx.text)
        if provinces:
            ctx.leave()
            return self._province(ctx, provinces[0])
        return self.reask(ctx, ctx.t("parks_ask"), self._options(ctx))

    def _place(self, ctx: Context, place: Place) -> Outcome:
        if place.id in ctx.kb.places_with_parks():
            entry_id = f"park_{place.id}"
            return ctx.outcome(ctx.kb.answer(entry_id, ctx.lang), intent="answer", entry_id=entry_id)
        none_here = ctx.t("park_none_here", place=place.name.get(ctx.lang))
        if place.lat is None or place.lon is None:
            overview = ctx.kb.answer("parks_overview", ctx.lang)
            return ctx.outcome(f"{none_here}\n{overview}", intent="answer", entry_id="parks_overview")
        nearby = nearest_parks(ctx, place.lat, place.lon, place.name.get(ctx.lang), place.province)
        reply = nearby.replies[0]
        return ctx.outcome(f"{none_here}\n{reply.text}", reply.options, intent="answer", entry_id="parks_nearest")

    def _province(self, ctx: Context, province: str) -> Outcome:
        places = [p for p in _park_places(ctx) if p.province == province]
        label = _province_label(ctx, province)
        if not places:
            text = ctx.t("parks_province_none", province=label)
            return ctx.outcome(text, [Option(ctx.t("parks_all"), "kb:parks_overview")], intent="answer")
        lines, files = _lines(ctx, places)
        text = "\n".join([ctx.t("parks_province_heading", province=label), *lines])
        text += "\n\n" + ctx.kb.cite(files, ctx.lang)
        return ctx.outcome(text, _city_options(ctx, places), intent="answer", entry_id="parks_by_province")
