"""Organisations: the unified social credit code (GB 32100-2015)."""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np

from suanshu.scan import validators
from suanshu.scan.detectors.base import END, NOT_AFTER, NOT_BEFORE, Detector


class UsccDetector(Detector):
    """18 characters over GB 32100's alphabet; its check character and the GB 11714
    organisation code inside it (positions 9-17) must both verify."""

    type = "CN_USCC"
    pattern = re.compile(NOT_BEFORE + r"[0-9A-HJ-NP-RTUWXY]{18}" + NOT_AFTER)
    hint = r"[0-9A-Y０-９Ａ-Ｙ]{18}" + END
    value = r"[0-9A-HJ-NP-RTUWXY]{18}"
    needs: ClassVar[dict[str, int]] = {"alnum": 18}

    def validate(self, candidate: str) -> bool:
        return validators.is_uscc(candidate)

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        return validators.are_usccs(candidates)
