"""What every detector shares: the Match, the Detector class, boundaries and digit folding.

A detector is a small class in the style of a Presidio recognizer: a regex that proposes
candidates, a ``validate`` step that confirms them (check digits, dates, area codes), optional
context words (in the regex, as a prefix that is not part of the span: group ``v``) and a
``hint`` — an RE2 pattern Arrow runs over a whole column at once, so that only cells that could
possibly match reach Python. A hint must match a superset of the cells ``pattern`` can match.

Rules that apply to every detector (REFERENCE §2):
- text is folded one character for one character (full-width ``１３９`` -> ``139``, any Unicode
  decimal digit -> ASCII), so offsets in the folded text ARE offsets in the original cell;
- never ``\\b``: CJK characters are word characters, so ``\\b`` would miss ``电话13912345678``.
  Boundaries are ``(?<![0-9A-Za-z])`` and ``(?![0-9A-Za-z])`` (plus: not inside a decimal).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np

# Identifier boundaries. Digits next to a decimal point belong to an amount (13912345678.00),
# not to an identifier, so "digit." before and ".digit" after also end a candidate.
NOT_BEFORE = r"(?<![0-9A-Za-z])(?<![0-9]\.)"
NOT_AFTER = r"(?![0-9A-Za-z])(?!\.[0-9])"

# RE2 building blocks for hints, over the ORIGINAL (unfolded) text.
D = r"\p{Nd}"  # any decimal digit, full-width and other scripts included
SEP = r"[ \-\x{3000}\x{ff0d}]"  # a separator that folds to ' ' or '-'
END = r"(?:$|[^\p{Nd}A-Za-z])"  # a superset of NOT_AFTER


# RE2 forms of the boundaries, for the column engine (``engine.py``) over FOLDED text. RE2 has no
# lookbehind: the boundary is one consumed character (or the cell's start/end) outside group ``v``.
RE2_BEFORE = r"(?:^|[^0-9A-Za-z.]|(?:^|[^0-9])\.)"  # = NOT_BEFORE
RE2_AFTER = r"(?:$|[^0-9A-Za-z.]|\.$|\.[^0-9])"  # = NOT_AFTER

GATES = {
    "digits4": r"\p{Nd}{4}",
    "han": r"\p{Han}",  # (the engine tests these two with character counts, ``needs``)
    # the context words of the context-bound detectors (QQ, WeChat, postal code, date of birth)
    "context": r"(?i:qq|wechat|vx|wx|post|zip|dob|birth)|扣扣|微信|邮编|邮政|郵|出生|生日|生於",
}


# Character classes whose per-cell counts decide which cells a detector looks at (``needs``),
# as lookup tables over the bytes of FOLDED UTF-8 text (ASCII bytes never occur inside a
# multi-byte character).
def _byte_class(chars: str = "", first_bytes: tuple[int, ...] = ()) -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    table[[ord(c) for c in chars] + list(first_bytes)] = 1
    return table


# First bytes of the UTF-8 sequences that can encode a Han character (\p{Han}: U+2E80-2FDF radicals
# -> E2, U+3005-9FFF -> E3-E9, U+F900-FAFF -> EF, U+20000- -> F0): a cell with no such byte has no
# Han character; the converse does not hold (E2 also starts "—", EF "，"), fine for a necessary test.
_HAN_FIRST = (0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEF, 0xF0)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


FEATURES = {
    "digits": _byte_class("0123456789"),
    "alnum": _byte_class("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    "upper": _byte_class("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    "@": _byte_class("@"),
    ".": _byte_class("."),
    ":": _byte_class(":"),
    "han": _byte_class(first_bytes=_HAN_FIRST),  # Han characters (at most)
    # context words (QQ, 微信, 邮编, 出生…) have two ASCII letters or two Han characters
    "words": _byte_class(_LETTERS, _HAN_FIRST),
    "space": _byte_class(" \t\n\r\f\v"),  # ASCII whitespace: a whole cell may need trimming
    "ipv6": None,  # colons, or 7 when the cell has "::" (engine.py)
    "degree": None,  # degree marks (DEGREE_MARKS), counted by engine.py
}
DEGREE_MARKS = tuple(m.encode() for m in "°º度")

# All classes as bits of one byte -> bits table, so that a column's bytes are looked up once.
FEATURE_BITS = {name: 1 << i for i, name in enumerate(n for n, t in FEATURES.items() if t is not None)}
CLASS_BITS = np.zeros(256, dtype=np.uint16)
for _name, _bit in FEATURE_BITS.items():
    CLASS_BITS[FEATURES[_name].astype(bool)] |= _bit

# The classes ``needs`` counts, packed as fields of one uint64 per byte (``engine._packed_counts``):
# 8 fields of 8 bits, or two words of 4 fields of 16 bits; field k holds bits width*k and up.
PACKED_FEATURES = ("digits", "alnum", "upper", "han", "@", ".", ":", "words")


def _packed_tables(width: int) -> list[tuple[np.ndarray, tuple[str, ...]]]:
    per_word = 64 // width
    groups = [PACKED_FEATURES[i:i + per_word] for i in range(0, len(PACKED_FEATURES), per_word)]
    tables = []
    for names in groups:
        table = np.zeros(256, dtype=np.uint64)
        for k, name in enumerate(names):
            table[FEATURES[name].astype(bool)] |= np.uint64(1 << (width * k))
        tables.append((table, names))
    return tables


PACKED_TABLES = {8: _packed_tables(8), 16: _packed_tables(16)}

# The same gates over folded text (digits are ASCII there).
GATES_FOLDED = GATES | {"digits4": r"[0-9]{4}"}


@dataclass(frozen=True, order=True)
class Match:
    start: int  # character offsets in the original cell text, end exclusive
    end: int
    type: str


class Detector:
    type: ClassVar[str]
    pattern: ClassVar[re.Pattern]
    hint: ClassVar[str]
    # Identifier detectors see digits and full-width forms folded to ASCII; text detectors see
    # the text as written (they fold Traditional characters themselves).
    folds: ClassVar[bool] = True
    # A cheaper RE2 test that every finding passes too, shared by several detectors and run once
    # per column (see GATES): a column with no 4-digit run skips ten detectors at once.
    gate: ClassVar[str | None] = None
    # The RE2 form the column engine runs (over folded text): ``context`` + ``before`` +
    # ``(?P<v>value)`` + ``after`` must find exactly the candidates ``pattern`` finds. Detectors
    # without a ``value`` (names, addresses) run their Python ``find`` instead.
    value: ClassVar[str | None] = None
    before: ClassVar[str] = RE2_BEFORE
    after: ClassVar[str] = RE2_AFTER
    context: ClassVar[str] = ""
    # Whether a cell that is just one value may be taken whole (context-bound types may not).
    whole: ClassVar[bool] = True
    # Least count per character class (``FEATURES``) of a cell holding any candidate: a
    # necessary condition, never a guess (tests/scan/test_engine.py checks every candidate).
    needs: ClassVar[dict[str, int]] = {}
    # A character class (``FEATURES``) of which every candidate holds exactly one: a cell with
    # two or more is searched by Python's ``finditer`` rather than RE2 rounds (see engine._rounds).
    python_rounds: ClassVar[str | None] = None

    @property
    def span(self) -> str:
        """RE2: the first candidate of a cell, in group ``v``."""
        return f"{self.context}{self.before}(?P<v>{self.value}){self.after}"

    @property
    def anchored(self) -> str:
        """RE2: the cell is one candidate and nothing else (ASCII whitespace around it)."""
        return rf"^\s*(?:{self.value})\s*$"

    def validate(self, candidate: str) -> bool:
        return True

    def validate_many(self, candidates: list[str]) -> np.ndarray:
        """``validate`` over many candidates; detectors with check digits do it with numpy."""
        return np.fromiter(map(self.validate, candidates), dtype=bool, count=len(candidates))

    def candidates(self, text: str) -> tuple[list[int], list[int], list[str]]:
        """Starts, ends and texts of every regex candidate (before validation)."""
        spans = list(self.spans(text))
        return [s for s, _, _ in spans], [e for _, e, _ in spans], [c for _, _, c in spans]

    def spans(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, candidate) for every regex candidate in folded text; the span is group
        ``v`` when the pattern has one (context words are evidence, not part of the value)."""
        by_group = "v" in self.pattern.groupindex
        for m in self.pattern.finditer(text):
            if by_group:
                yield m.start("v"), m.end("v"), m.group("v")
            else:
                yield m.start(), m.end(), m.group()

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        """Spans of confirmed matches in folded text."""
        starts, ends, cands = self.candidates(text)
        for s, e, ok in zip(starts, ends, self.validate_many(cands).tolist(), strict=True):
            if ok:
                yield s, e


@lru_cache(maxsize=1)
def _fold_table() -> dict[int, str]:
    """Every Unicode decimal digit -> its ASCII digit; full-width ASCII forms (U+FF01-FF5E, but ：) -> ASCII;
    the ideographic space -> space; small/full-width @ -> @. One character each way, always."""
    table = {cp: str(unicodedata.digit(chr(cp))) for cp in range(0x80, sys.maxunicode + 1)
             if unicodedata.category(chr(cp)) == "Nd"}
    # The full-width colon stays: it is Chinese punctuation (登录IP：fe80::1), never part of a value.
    table |= {cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F) if cp != 0xFF1A}
    table |= {0x3000: " ", 0xFE6B: "@"}
    return table


def code_point_map(table: dict[int, str]) -> np.ndarray:
    """A lookup array over all code points for a one-to-one character mapping."""
    out = np.arange(sys.maxunicode + 1, dtype=np.uint32)
    out[list(table)] = [ord(v) for v in table.values()]
    return out


@lru_cache(maxsize=1)
def _fold_map() -> np.ndarray:
    return code_point_map(_fold_table())


def remap(text: str, mapping: np.ndarray) -> str:
    """``text`` with every character replaced through ``mapping`` (one for one), with numpy over
    UTF-32 code points: ``str.translate`` with a dict costs a lookup per character."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    # np.take: 1.5x less than indexing; decoded from the array's buffer, not a copy of it
    return str(memoryview(np.take(mapping, cps)), "utf-32-le")


def fold(text: str) -> str:
    """The text with digits and full-width forms folded to ASCII, same length (see module doc)."""
    return text if text.isascii() else remap(text, _fold_map())


def normalize(text: str) -> tuple[str, None]:
    """Kept for callers of the first scanner: ``(fold(text), None)`` — offsets need no map now."""
    return fold(text), None
