"""Precise location: latitude/longitude pairs (PIPL Art. 28: 行踪轨迹, precise location)."""

from __future__ import annotations

import re

from suanshu.scan.detectors.base import Detector

# Four decimals of a degree are ~11 m: a house, not a town. Fewer are not "precise".
_NUM = r"-?[0-9]{1,3}\.[0-9]{4,}"


class GeoCoordinateDetector(Detector):
    """A pair ``lat, lon`` or ``lon, lat`` (comma, space, semicolon or slash between; optional
    N/E letters and °), both with at least 4 decimals and both in range."""

    type = "GEO_COORDINATE"
    gate = "digits4"
    pattern = re.compile(
        rf"(?<![0-9A-Za-z.])[NSEW]?(?P<a>{_NUM})°?[NSEW]?\s*[,;/ ]\s*[NSEW]?(?P<b>{_NUM})°?[NSEW]?"
        r"(?![0-9]|\.[0-9])")
    hint = r"\p{Nd}[.．]\p{Nd}{4}\p{Nd}*°?[NSEW]?\s*[,;/ ，；\x{3000}]\s*[NSEW]?-?\p{Nd}{1,3}[.．]\p{Nd}{4}"

    def validate(self, candidate: str) -> bool:
        a, b = (float(x) for x in re.findall(r"-?[0-9]+\.[0-9]+", candidate))
        return _lat_lon(a, b) or _lat_lon(b, a)


def _lat_lon(lat: float, lon: float) -> bool:
    return -90 <= lat <= 90 and -180 <= lon <= 180 and not (lat == 0 and lon == 0)
