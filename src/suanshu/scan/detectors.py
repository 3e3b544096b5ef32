"""Detectors for personal information in cell text, in the style of Presidio recognizers.

Each detector is a small class: a regex that proposes candidates, a ``validate`` step that
confirms them (check digits, dates, area codes), and a ``hint`` — an RE2 pattern run by Arrow over
a whole column at once, so that only cells that could possibly match reach Python.

Rules that apply to every detector (REFERENCE §2):
- text is NFKC-normalised first (full-width ``１３９`` is ``139``), but offsets are reported in
  the ORIGINAL cell string, as Python ``str`` indices;
- never ``\\b``: CJK characters are word characters, so ``\\b`` would miss ``电话13912345678``.
  Boundaries are ``(?<![0-9A-Za-z])`` and ``(?![0-9A-Za-z])`` (plus: not inside a decimal);
- overlapping candidates are resolved by detector priority (the order of ``DETECTORS``): an
  18-digit string that is a valid resident ID is an ID, never also a bank card.

To add a type: subclass ``Detector``, set ``type``, ``pattern`` and a ``hint`` that matches a
superset of the cells ``pattern`` can match, add it to ``DETECTORS`` at the right priority.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from suanshu.scan import validators

# Identifier boundaries. Digits next to a decimal point belong to an amount (13912345678.00),
# not to an identifier, so "digit." before and ".digit" after also end a candidate.
_NOT_BEFORE = r"(?<![0-9A-Za-z])(?<![0-9]\.)"
_NOT_AFTER = r"(?![0-9A-Za-z])(?!\.[0-9])"
_DIGIT = r"\p{Nd}"  # RE2 in hints: any decimal digit, full-width included, before normalising


@dataclass(frozen=True, order=True)
class Match:
    start: int  # character offsets in the original cell text, end exclusive
    end: int
    type: str


class Detector:
    type: ClassVar[str]
    pattern: ClassVar[re.Pattern]
    hint: ClassVar[str]

    def validate(self, candidate: str) -> bool:
        return True

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        """Spans of confirmed matches in already-normalised text."""
        for m in self.pattern.finditer(text):
            if self.validate(m.group()):
                yield m.span()


class ResidentIdDetector(Detector):
    """GB 11643-1999 resident identity number, 18 characters or the legacy 15 digits."""

    type = "CN_RESIDENT_ID"
    pattern = re.compile(_NOT_BEFORE + r"(?:[0-9]{17}[0-9Xx]|[0-9]{15})" + _NOT_AFTER)
    hint = _DIGIT + "{15}"

    def validate(self, candidate: str) -> bool:
        return validators.is_resident_id(candidate)


class BankCardDetector(Detector):
    """16-19 digit card numbers passing Luhn, plain or grouped 4-4-4-4(-1..3)."""

    type = "BANK_CARD"
    pattern = re.compile(
        _NOT_BEFORE
        + r"(?:[0-9]{16,19}|[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?)"
        + _NOT_AFTER)
    hint = rf"{_DIGIT}{{4}}\D?{_DIGIT}{{4}}\D?{_DIGIT}{{4}}\D?{_DIGIT}{{4}}"

    def validate(self, candidate: str) -> bool:
        return validators.is_bank_card(re.sub(r"[ -]", "", candidate))


class EmailDetector(Detector):
    """An e-mail address (the common subset of RFC 5322: dot-atom local part, DNS domain)."""

    type = "EMAIL"
    pattern = re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}" + _NOT_AFTER)
    hint = "[@\uff20\ufe6b]"  # @, full-width @, small @ (the last two become @ under NFKC)

    def validate(self, candidate: str) -> bool:
        local, _, domain = candidate.rpartition("@")
        if local.startswith(".") or local.endswith(".") or ".." in local:
            return False
        labels = domain.split(".")
        return all(lb and not lb.startswith("-") and not lb.endswith("-") for lb in labels)


class MobileDetector(Detector):
    """Mainland China mobile numbers (MIIT number plan segments, REFERENCE §2).

    Optional +86 / 0086 prefix; the 3-4-4 groups may be separated by one consistent space or
    dash. The span includes the prefix. ``+`` is excluded before the number so that
    ``+13912345678`` (another country's code) is not taken for a mainland mobile.
    """

    type = "CN_MOBILE"
    pattern = re.compile(
        r"(?<![0-9A-Za-z+])(?<![0-9]\.)(?:(?:\+|00)86[ -]?)?"
        r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9])"
        r"([ -]?)[0-9]{4}\1[0-9]{4}" + _NOT_AFTER)
    hint = rf"{_DIGIT}{{3}}\D?{_DIGIT}{{4}}\D?{_DIGIT}{{4}}"


# Priority order: identity documents and accounts (sensitive) first, then e-mail before mobile so
# that 13912345678@qq.com is one e-mail address rather than a phone number with a tail.
DETECTORS: tuple[Detector, ...] = (
    ResidentIdDetector(), BankCardDetector(), EmailDetector(), MobileDetector())


def normalize(text: str) -> tuple[str, list[int] | None]:
    """NFKC text and, when it differs, the original index of every normalised character.

    Characters are folded one at a time so each output character maps back to exactly one
    input character (a full-width digit is one character either way, but e.g. ``㈠`` expands).
    """
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text, None
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold(ch)
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """NFKC of one character, except that only real digits (category Nd: ASCII, full-width…)
    may become digits. ① ² ㏩ stay as they are: they are not how anyone writes an ID, and this
    keeps every detector's Arrow hint (``\\p{Nd}``) a superset of what the regexes can match."""
    folded = unicodedata.normalize("NFKC", ch)
    if unicodedata.category(ch) != "Nd" and any(c.isdigit() for c in folded):
        return ch
    return folded


def detect(text: str, detectors: tuple[Detector, ...] = DETECTORS) -> list[Match]:
    """All findings in one cell, non-overlapping, sorted by start offset."""
    norm, origin = normalize(text)
    taken: list[tuple[int, int]] = []
    found: list[Match] = []
    for detector in detectors:
        for m in detector.pattern.finditer(norm):
            start, end = m.span()
            if any(start < e and s < end for s, e in taken):
                continue  # a higher-priority detector already claimed these characters
            if not detector.validate(m.group()):
                continue
            taken.append((start, end))
            if origin is not None:
                start, end = origin[start], origin[end - 1] + 1
            found.append(Match(start, end, detector.type))
    return sorted(found)
