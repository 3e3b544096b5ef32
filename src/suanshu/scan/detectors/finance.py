"""Financial accounts: bank cards (ISO/IEC 7812, Luhn)."""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np

from suanshu.scan import validators
from suanshu.scan.detectors.base import NOT_AFTER, NOT_BEFORE, SEP, D, Detector


class BankCardDetector(Detector):
    """16-19 digit card numbers passing Luhn, plain or grouped 4-4-4-4(-1..3). An 18-digit
    number that is a valid resident ID is an ID (the detector order decides, and in a column
    whose header says card, ``report`` puts cards first: REFERENCE §2, headers break ties)."""

    type = "BANK_CARD"
    pattern = re.compile(
        NOT_BEFORE
        + r"(?:[0-9]{16,19}|[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?)"
        + NOT_AFTER)
    hint = rf"{D}{{4}}{SEP}?{D}{{4}}{SEP}?{D}{{4}}{SEP}?{D}{{4}}"
    # RE2 has no backreference: one alternative per separator
    needs: ClassVar[dict[str, int]] = {"digits": 16}
    value = r"[0-9]{16,19}|[0-9]{4}(?: [0-9]{4}){3}(?: [0-9]{1,3})?|[0-9]{4}(?:-[0-9]{4}){3}(?:-[0-9]{1,3})?"

    def validate(self, candidate: str) -> bool:
        return validators.is_bank_card(candidate.replace(" ", "").replace("-", ""))

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        return validators.are_bank_cards(_digits_only(candidates))


class BankCardFirst(BankCardDetector):
    """The same detector for a column whose header names a card: a Luhn-valid number that is
    also a valid resident ID counts as the card it is declared to be."""

    def validate(self, candidate: str) -> bool:
        return validators.card_shape(candidate.replace(" ", "").replace("-", ""))

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        # the card tests in numpy (no Python test per candidate), without "a valid ID is not a card"
        return validators.are_bank_cards(_digits_only(candidates), ids_win=False)


def _digits_only(candidates: list[str]) -> list[str]:
    """The candidates without their group separators; as they are when none has one (one test
    over the joined batch instead of two replacements per candidate)."""
    joined = "".join(candidates)
    if " " not in joined and "-" not in joined:
        return candidates
    return [c.replace(" ", "").replace("-", "") for c in candidates]
