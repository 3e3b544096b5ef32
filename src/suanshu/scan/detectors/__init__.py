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
import pyarrow.compute as pc

from suanshu.scan.detectors.base import GATES, Detector, Match, fold, normalize
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
from suanshu.scan.detectors.location import GeoCoordinateDetector
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
    MobileDetector(), LandlineDetector(), IPv4Detector(), IPv6Detector(), GeoCoordinateDetector(),
    LicensePlateDetector(), BirthDateDetector(), QQDetector(), WeChatDetector(), PostalCodeDetector())
TEXT_DETECTORS: tuple[Detector, ...] = (AddressDetector(), NameCellDetector(), NameTextDetector())
DETECTORS: tuple[Detector, ...] = ID_DETECTORS + TEXT_DETECTORS

_CARD_FIRST = (BankCardFirst(),) + tuple(d for d in DETECTORS if d.type != "BANK_CARD")


def detectors_for(card_header: bool = False, text: bool = True) -> tuple[Detector, ...]:
    """The detectors for a column. ``card_header``: the header names a bank card, so a number that
    is both a valid ID and Luhn-valid is the card (REFERENCE §2: headers break ties)."""
    chosen = _CARD_FIRST if card_header else DETECTORS
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


def scan_array(text: pa.Array, detectors: tuple[Detector, ...] = DETECTORS) -> Found:
    """Every finding in a string column, non-overlapping, sorted by (row, start)."""
    parts = []
    gates: dict[str, np.ndarray] = {}
    if len(text) and text.null_count < len(text):
        for prio, detector in enumerate(detectors):
            if detector.gate is None:
                rows = _matching(text, detector.hint)
            else:
                if detector.gate not in gates:
                    gates[detector.gate] = _matching(text, GATES[detector.gate])
                passed = gates[detector.gate]
                if len(passed) * 2 > len(text):  # most cells pass: the hint over the whole column
                    rows = _matching(text, detector.hint)
                else:  # few pass: the hint only over them
                    rows = passed[_matching(text.take(pa.array(passed)), detector.hint)] if len(passed) else passed
            if not len(rows):
                continue
            sub = text.take(pa.array(rows)) if len(rows) < len(text) else text
            joined, cell_starts = _join(sub)
            spans = np.fromiter(
                (x for se in detector.find(_folded(detector, joined)) for x in se), dtype=np.int64)
            if not len(spans):
                continue
            s, e = spans[0::2], spans[1::2]
            cell = np.searchsorted(cell_starts, s, side="right") - 1
            base = cell_starts[cell]
            parts.append((rows[cell], s - base, e - base,
                          np.full(len(s), TYPE_INDEX[detector.type]), np.full(len(s), prio)))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Found(empty, empty, empty, empty)
    rows, starts, ends, types, prios = (np.concatenate(c) for c in zip(*parts))
    return _resolve(rows, starts, ends, types, prios)


def _matching(text: pa.Array, pattern: str) -> np.ndarray:
    """Indices of the cells an RE2 pattern matches somewhere in."""
    mask = pc.match_substring_regex(text, pattern).fill_null(False)
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


def _folded(detector: Detector, text: str) -> str:
    return fold(text) if detector.folds else text


def _join(sub: pa.Array) -> tuple[str, np.ndarray]:
    """The cells as one string with NUL after each, and each cell's start (in characters)."""
    cells = pc.fill_null(sub, "")
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    with_sep = pc.binary_join_element_wise(cells, "\x00", "")
    lengths = pc.utf8_length(with_sep).to_numpy(zero_copy_only=False)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    _, offsets_buf, data_buf = with_sep.buffers()
    kind = np.int64 if pa.types.is_large_string(with_sep.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=kind)[with_sep.offset:with_sep.offset + len(with_sep) + 1]
    data = memoryview(data_buf)[int(offsets[0]):int(offsets[-1])]
    return str(data, "utf-8"), starts


def _resolve(rows, starts, ends, types, prios) -> Found:
    """Drop candidates that overlap one of higher priority in the same cell.

    Sorted by (row, start), a candidate overlaps an earlier one in its cell iff it starts before
    the running maximum of earlier ends (rows are spaced apart so cells never mix). Only the
    cells with such a clash are resolved one by one, in priority order; the rest is kept as is.
    """
    order = np.lexsort((starts, rows))
    rows, starts, ends, types, prios = rows[order], starts[order], ends[order], types[order], prios[order]
    spread = (int(ends.max()) + 1) if len(ends) else 1
    g_start, g_end = rows * spread + starts, rows * spread + ends
    prev_max = np.maximum.accumulate(np.concatenate(([-1], g_end[:-1])))
    clash_rows = np.unique(rows[g_start < prev_max])
    if not len(clash_rows):
        return Found(rows, starts, ends, types)
    keep = ~np.isin(rows, clash_rows)
    for r in clash_rows.tolist():
        idx = np.flatnonzero(rows == r)
        taken: list[tuple[int, int]] = []
        for i in sorted(idx.tolist(), key=lambda i: (prios[i], starts[i])):
            s, e = int(starts[i]), int(ends[i])
            if not any(s < te and ts < e for ts, te in taken):
                taken.append((s, e))
                keep[i] = True
    return Found(rows[keep], starts[keep], ends[keep], types[keep])
