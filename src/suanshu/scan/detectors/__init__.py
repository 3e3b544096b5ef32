"""Detectors for personal information in cell text, one module per family, and the engine that
runs them over a whole Arrow column at once.

Families: ``identity`` (resident ID, passport, date of birth), ``finance`` (bank card),
``organization`` (USCC), ``contact`` (mobile, landline, e-mail, QQ, WeChat, postal code),
``vehicle`` (licence plate), ``network`` (IP), ``location`` (coordinates), ``text`` (person
names, addresses). ``base`` holds the shared rules (folding, boundaries, never ``\\b``).

Column engine (``scan_array``): each detector's RE2 hint runs over the column in Arrow; the cells it
matched are joined into ONE string (``\\x00`` between cells) and the detector's Python regex runs
once over it, so the per-cell cost is paid in C. Candidates are validated, mapped back to
(row, offset) with a binary search over the cell start offsets, and overlaps are resolved by
priority: the order of ``DETECTORS`` (an 18-digit valid resident ID is an ID, never a card).

To add a type: subclass ``Detector`` in its family module, give it a ``type``, a ``pattern`` and a
``hint`` that matches a superset of the cells ``pattern`` can match, and add it to ``DETECTORS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from suanshu.scan import validators
from suanshu.scan.detectors import engine
from suanshu.scan.detectors.base import Detector, Match, fold, normalize
from suanshu.scan.detectors.contact import (
    EmailDetector,
    LandlineDetector,
    MobileDetector,
    PostalCodeDetector,
    QQDetector,
    WeChatDetector,
)
from suanshu.scan.detectors.finance import BankCardDetector, BankCardFirst
from suanshu.scan.detectors.identity import BirthDateDetector, PassportDetector, ResidentIdDetector
from suanshu.scan.detectors.location import GeoCoordinateDetector, GeoDmsDetector
from suanshu.scan.detectors.network import IPv4Detector, IPv6Detector
from suanshu.scan.detectors.organization import UsccDetector
from suanshu.scan.detectors.text import AddressDetector, NameCellDetector, NameTextDetector
from suanshu.scan.detectors.vehicle import LicensePlateDetector

__all__ = ["DETECTORS", "ID_DETECTORS", "TEXT_DETECTORS", "TYPES", "Detector", "Found", "Match",
           "detect", "detectors_for", "fold", "normalize", "scan_array"]

# Priority order: identity documents and accounts (sensitive) first; e-mail before mobile so that
# 13912345678@qq.com is one address rather than a phone number with a tail; context-bound types last.
ID_DETECTORS: tuple[Detector, ...] = (
    ResidentIdDetector(), BankCardDetector(), UsccDetector(), PassportDetector(), EmailDetector(),
    MobileDetector(), LandlineDetector(), IPv4Detector(), IPv6Detector(), GeoCoordinateDetector(), GeoDmsDetector(),
    LicensePlateDetector(), BirthDateDetector(), QQDetector(), WeChatDetector(), PostalCodeDetector())
TEXT_DETECTORS: tuple[Detector, ...] = (AddressDetector(), NameCellDetector(), NameTextDetector())
DETECTORS: tuple[Detector, ...] = ID_DETECTORS + TEXT_DETECTORS

_CARD_FIRST = (BankCardFirst(),) + tuple(d for d in DETECTORS if d.type != "BANK_CARD")


def _amid_ids(detector: Detector) -> Detector:
    """``detector`` for a column whose header names resident IDs: an 18-digit value with an ID's
    shape (a known area, a real birth date) is a mistyped ID there, not the card or credit code
    its digits may also pass for."""

    class AmidIds(type(detector)):
        def validate(self, candidate: str) -> bool:
            return bool(self.validate_many([candidate])[0])

        def validate_many(self, candidates: list[str]) -> np.ndarray:
            digits = [c.replace(" ", "").replace("-", "") for c in candidates]
            return super().validate_many(candidates) & ~validators.are_resident_ids(digits, checked=False)

    AmidIds.__name__ = AmidIds.__qualname__ = f"{type(detector).__name__}AmidIds"
    return AmidIds()


_AMID_IDS = tuple(_amid_ids(d) if d.type in ("BANK_CARD", "CN_USCC") else d for d in DETECTORS)


def detectors_for(card_header: bool = False, text: bool = True, id_header: bool = False) -> tuple[Detector, ...]:
    """The detectors for a column. ``card_header``: the header names a bank card, so a number that
    is both a valid ID and Luhn-valid is the card; ``id_header``: it names resident IDs, so an
    18-digit number shaped like an ID is no card even when its check character fails (REFERENCE
    §2: headers break ties)."""
    chosen = _CARD_FIRST if card_header else _AMID_IDS if id_header else DETECTORS
    return chosen if text else tuple(d for d in chosen if d not in TEXT_DETECTORS)


TYPES: tuple[str, ...] = tuple(dict.fromkeys(d.type for d in DETECTORS))
TYPE_INDEX = {t: i for i, t in enumerate(TYPES)}


@dataclass(frozen=True)
class Found:
    """Findings of one column batch as parallel arrays, sorted by (row, start)."""

    rows: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    types: np.ndarray  # index into TYPES

    def __len__(self) -> int:
        return len(self.rows)

    def matches(self) -> list[tuple[int, Match]]:
        return [(r, Match(s, e, TYPES[t])) for r, s, e, t in
                zip(self.rows.tolist(), self.starts.tolist(), self.ends.tolist(), self.types.tolist())]


def detect(text: str, detectors: tuple[Detector, ...] = DETECTORS) -> list[Match]:
    """All findings in one cell, non-overlapping, sorted by start offset."""
    return [m for _, m in scan_array(pa.array([text], pa.string()), detectors).matches()]


def scan_array(text: pa.Array, detectors: tuple[Detector, ...] = DETECTORS,
               encoded: pa.DictionaryArray | None | bool = True) -> Found:
    """Every finding in a string column, non-overlapping, sorted by (row, start) (``engine.py``);
    ``encoded``: the column's ``engine.repeated(text)`` when the caller has it."""
    return Found(*engine.scan_column(text, detectors, TYPE_INDEX, encoded))
