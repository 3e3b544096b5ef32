"""Precise location: latitude/longitude pairs (PIPL Art. 28: 行踪轨迹, precise location)."""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suanshu.scan.detectors.base import Detector

# Four decimals of a degree are ~11 m: a house, not a town. Fewer are not "precise".
_NUM = r"-?[0-9]{1,3}\.[0-9]{4,}"
# What may stand before each number: a key (lat=, lng:) and a hemisphere (北纬, 东经, N, E).
_KEY = r"(?:[Ll]at|[Ll]ng|[Ll]on|[Ll]atitude|[Ll]ongitude)\s*[=:]\s*"
_HEMI = r"北纬|南纬|东经|西经|[NSEW]"
_SIDE = rf"(?:{_KEY})?(?:{_HEMI})?"


class GeoCoordinateDetector(Detector):
    """A pair ``lat, lon`` or ``lon, lat`` (comma, space, semicolon, slash or & between; optional
    N/E letters or 北纬/东经 and °, or keys as in ``lat=…&lng=…``), both with at least 4 decimals
    and both in range."""

    type = "GEO_COORDINATE"
    pattern = re.compile(
        rf"(?<![0-9A-Za-z.]){_SIDE}(?P<a>{_NUM})°?[NSEW]?\s*[,;/ &]\s*{_SIDE}(?P<b>{_NUM})°?[NSEW]?"
        r"(?![0-9]|\.[0-9])")
    hint = (r"\p{Nd}[.．]\p{Nd}{4}\p{Nd}*°?[NSEW]?\s*[,;/ ，；&＆\x{3000}]\s*"
            r"(?:[A-Za-z]+\s*[=:：]\s*)?(?:北纬|南纬|东经|西经|[NSEW])?-?\p{Nd}{1,3}[.．]\p{Nd}{4}")
    value = rf"{_SIDE}{_NUM}°?[NSEW]?\s*[,;/ &]\s*{_SIDE}{_NUM}°?[NSEW]?"
    before = r"(?:^|[^0-9A-Za-z.])"
    after = r"(?:$|[^0-9.]|\.$|\.[^0-9])"
    needs: ClassVar[dict[str, int]] = {"digits": 10, ".": 2}

    def validate(self, candidate: str) -> bool:
        a, b = (float(x) for x in re.findall(r"-?[0-9]+\.[0-9]+", candidate))
        return _lat_lon(a, b) or _lat_lon(b, a)

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        """``validate`` for a batch: the two numbers cut out by RE2, the ranges tested in numpy."""
        parts = pc.extract_regex(pa.array(candidates, pa.string()),
                                 r"^[^0-9-]*(?P<a>-?[0-9]+\.[0-9]+)[^0-9-]+(?P<b>-?[0-9]+\.[0-9]+)")
        a, b = (pc.cast(parts.field(k), pa.float64()).to_numpy(zero_copy_only=False) for k in "ab")
        return _lat_lon(a, b) | _lat_lon(b, a)


def _lat_lon(lat, lon):
    """Both in range and not the (0, 0) of a missing fix; floats or numpy arrays alike."""
    return (-90 <= lat) & (lat <= 90) & (-180 <= lon) & (lon <= 180) & ~((lat == 0) & (lon == 0))
