"""Precise location: latitude/longitude pairs (PIPL Art. 28: 行踪轨迹, precise location), in decimal
degrees or in degrees, minutes and seconds."""

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


# Degrees, minutes and seconds: a second of arc is ~30 m, as precise as 4 decimals of a degree;
# without the seconds (39°54′N: ~2 km) a pair is not precise. Spaces only (never ``\s``, which
# differs between Python and RE2), after folding (full-width forms and the ideographic space).
_DEG, _MIN, _SEC = "(?:°|º|度)", "(?:′|'|分)", "(?:″|\"|''|秒)"
_DMS = rf"[0-9]{{1,3}} *{_DEG} *[0-9]{{1,2}} *{_MIN} *[0-9]{{1,2}}(?:\.[0-9]+)? *{_SEC}"
_DMS_SIDE = rf"(?:(?:{_HEMI}) *)?{_DMS}(?: *[NSEW])?"  # spaces inside a side, never around it
_DMS_PAIR = rf"{_DMS_SIDE} *[,;/&、]? *{_DMS_SIDE}"
_DMS_PARTS = re.compile(rf"({_HEMI})? *([0-9]+) *{_DEG} *([0-9]+) *{_MIN} *([0-9.]+) *{_SEC} *([NSEW])?")
_LAT_MARKS, _LON_MARKS = {"北纬", "南纬", "N", "S"}, {"东经", "西经", "E", "W"}


class GeoDmsDetector(Detector):
    """A pair in degrees, minutes and seconds (39°54′15″N, 116°24′26″E; 北纬39度54分15秒 东经116度
    24分26秒; ASCII ' and " too): minutes and seconds below 60, each side in its range, and the
    hemisphere marks, where given, one latitude and one longitude."""

    type = "GEO_COORDINATE"
    pattern = re.compile(rf"(?<![0-9A-Za-z.])(?P<v>{_DMS_PAIR})(?![0-9])")
    hint = r"\p{Nd}[ \x{3000}]*(?:°|º|度)"
    value = _DMS_PAIR
    before = r"(?:^|[^0-9A-Za-z.])"
    after = r"(?:$|[^0-9])"
    needs: ClassVar[dict[str, int]] = {"digits": 6, "degree": 2}

    def validate(self, candidate: str) -> bool:
        sides = _DMS_PARTS.findall(candidate)
        if len(sides) != 2 or any(float(m) >= 60 or float(s) >= 60 for _, _, m, s, _ in sides):
            return False
        (a, a_marks), (b, b_marks) = (_degrees(side) for side in sides)
        if not (a_marks | b_marks):
            return _lat_lon(a, b) or _lat_lon(b, a)
        if a_marks <= _LAT_MARKS and b_marks <= _LON_MARKS:
            return _lat_lon(a, b)
        if a_marks <= _LON_MARKS and b_marks <= _LAT_MARKS:
            return _lat_lon(b, a)
        return False  # both sides latitudes, both longitudes, or one side marked both ways


def _degrees(side: tuple[str, ...]) -> tuple[float, set[str]]:
    """The side's degrees as a number, and its hemisphere marks."""
    before, d, m, s, after = side
    return int(d) + int(m) / 60 + float(s) / 3600, {x for x in (before, after) if x}
