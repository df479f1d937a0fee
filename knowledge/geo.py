"""Distances between places, for "the nearest parks" to a city or a shared location."""

from __future__ import annotations

import math

from knowledge.schema import Place

EARTH_RADIUS_KM = 6371.0


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def nearest(places: list[Place], lat: float, lon: float, limit: int = 3) -> list[tuple[Place, float]]:
    """The `limit` places closest to (lat, lon); places without coordinates are skipped."""
    located = [(p, distance_km(lat, lon, p.lat, p.lon)) for p in places if p.lat is not None and p.lon is not None]
    return sorted(located, key=lambda item: (item[1], item[0].id))[:limit]
