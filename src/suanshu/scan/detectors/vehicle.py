"""Vehicles: licence plates (GA 36-2018), including new-energy plates."""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from suanshu.scan.detectors.base import Detector

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"  # plate letters: no I, no O


class LicensePlateDetector(Detector):
    """Province character + issuing-office letter + an optional ``·`` + the serial: 5 characters
    (the last may be 挂/学/警/港/澳), or 6 for new-energy plates (D/F first: small cars;
    D/F last: large vehicles)."""

    type = "CN_LICENSE_PLATE"
    pattern = re.compile(
        rf"[{PROVINCES}][{_L}][·•・.]?"
        rf"(?:[DF][{_L}0-9][0-9]{{4}}|[0-9]{{5}}[DF]|[{_L}0-9]{{4}}[{_L}0-9挂学警港澳])"
        r"(?![0-9A-Za-z])")
    hint = f"[{PROVINCES}][A-ZＡ-Ｚ]"
    value = rf"[{PROVINCES}][{_L}][·•・.]?(?:[DF][{_L}0-9][0-9]{{4}}|[0-9]{{5}}[DF]|[{_L}0-9]{{4}}[{_L}0-9挂学警港澳])"
    before = ""
    needs: ClassVar[dict[str, int]] = {"digits": 1, "han": 1}  # the province; validation wants a digit in the serial
    after = r"(?:$|[^0-9A-Za-z])"

    def validate(self, candidate: str) -> bool:
        serial = candidate[-5:]
        # A serial has at least one digit and at most two letters (GA 36-2018 §5); that keeps
        # out words like 京A股票 that happen to follow the shape.
        return any(c.isdigit() for c in candidate[2:]) and sum(c.isalpha() and c.isascii() for c in serial) <= 2

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        """``validate`` for a batch, as two RE2 tests over Arrow slices."""
        arr = pa.array(candidates, pa.string())
        digit = pc.match_substring_regex(pc.utf8_slice_codeunits(arr, 2), "[0-9]")
        few = pc.match_substring_regex(pc.utf8_slice_codeunits(arr, -5), r"^(?:[^A-Za-z]*[A-Za-z]){0,2}[^A-Za-z]*$")
        return pc.and_(digit, few).to_numpy(zero_copy_only=False).astype(bool)
