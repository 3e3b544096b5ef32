"""Identity documents: resident ID (GB 11643), passport, date of birth (with context)."""

from __future__ import annotations

import re
from datetime import date
from typing import ClassVar

import numpy as np

from suanshu.scan import validators
from suanshu.scan.detectors.base import END, NOT_AFTER, NOT_BEFORE, D, Detector


class ResidentIdDetector(Detector):
    """GB 11643-1999 resident identity number: 18 characters (lowercase x accepted) or the
    legacy 15 digits; check character, birth date and GB/T 2260 area code all verified."""

    type = "CN_RESIDENT_ID"
    pattern = re.compile(NOT_BEFORE + r"(?:[0-9]{17}[0-9Xx]|[0-9]{15})" + NOT_AFTER)
    hint = rf"{D}{{15}}(?:{D}{{2}}[\p{{Nd}}XxＸｘ])?{END}"
    value = r"[0-9]{17}[0-9Xx]|[0-9]{15}"
    needs: ClassVar[dict[str, int]] = {"digits": 15}

    def validate(self, candidate: str) -> bool:
        return validators.is_resident_id(candidate)

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        return validators.are_resident_ids(candidates)


class PassportDetector(Detector):
    """PRC passports (REFERENCE §2): E or G + 8 digits (ordinary, electronic), E + letter + 7
    digits (the EA… series), D/DE diplomatic, S/SE service, P public affairs + 7 digits."""

    type = "CN_PASSPORT"
    pattern = re.compile(
        r"(?<![0-9A-Za-z])(?:[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7}|(?:DE|SE|PE|[DSP])[0-9]{7})"
        r"(?![0-9A-Za-z])")
    hint = rf"[EGDSPＥＧＤＳＰ][A-ZＡ-Ｚ]?{D}{{7}}"
    value = r"[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7}|(?:DE|SE|PE|[DSP])[0-9]{7}"
    needs: ClassVar[dict[str, int]] = {"digits": 7, "upper": 1}
    before = r"(?:^|[^0-9A-Za-z])"
    after = r"(?:$|[^0-9A-Za-z])"


# Dates alone are not personal information (they are everywhere: orders, logs); a date is a date
# of birth only when a context word says so.
_DATE_VALUE = r"(?:19|20)[0-9]{2}(?:[-/.年])(?:0?[1-9]|1[0-2])(?:[-/.月])(?:0?[1-9]|[12][0-9]|3[01])日?"
_DATE = rf"(?P<v>{_DATE_VALUE})"
_DOB_CONTEXT = (r"(?:出生日期|出生年月日|出生于|生日|生於|出生|DOB|[Dd]ate of [Bb]irth|[Bb]irth ?[Dd]ate|[Bb]irthday)"
                r"\s*[:：是为為]?\s*")


class BirthDateDetector(Detector):
    type = "DATE_OF_BIRTH"
    gate = "context"
    pattern = re.compile(_DOB_CONTEXT + _DATE + r"(?![0-9])")
    hint = r"出生|生日|生於|DOB|(?i)birth"
    context, before, value, after, whole = _DOB_CONTEXT, "", _DATE_VALUE, r"(?:$|[^0-9])", False
    needs: ClassVar[dict[str, int]] = {"digits": 6, "words": 2}

    def validate(self, candidate: str) -> bool:
        y, m, d = (int(x) for x in re.findall(r"[0-9]+", candidate))
        try:
            return date(1900, 1, 1) <= date(y, m, d) <= date.today()
        except ValueError:
            return False
