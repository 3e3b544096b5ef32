"""Check-digit and structure validators for identifiers found by the detectors.

A regex finds candidates; these functions decide whether a candidate is real. They are what keeps
the scanner honest: an 18-digit order number is not a resident ID unless its check character,
birth date and area code all agree.
"""

from __future__ import annotations

import importlib.resources
from datetime import date
from functools import lru_cache

import numpy as np
from stdnum import numdb

# GB 11643-1999 (resident identity number), check character per ISO 7064 MOD 11-2.
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RIC_CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH = date(1900, 1, 1)  # no living resident was born earlier


def resident_id_check_char(first17: str) -> str:
    """The 18th character of a GB 11643 resident ID, from its first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, RIC_WEIGHTS, strict=True))
    return RIC_CHECK_CHARS[total % 11]


def is_resident_id(value: str) -> bool:
    """A real resident ID: 18 characters (GB 11643-1999) or the legacy 15-digit form.

    18: area code + YYYYMMDD + 3-digit sequence + check character (x accepted as X).
    15 (issued before 1999): area code + YYMMDD (19YY) + 3-digit sequence, no check character.
    """
    if len(value) == 18:
        return (
            value[:17].isascii() and value[:17].isdigit()
            and value[17].upper() == resident_id_check_char(value[:17])
            and is_birth_date(value[6:14])
            and is_area_code(value[:6])
        )
    if len(value) == 15:
        return (
            value.isascii() and value.isdigit()
            and is_birth_date("19" + value[6:12])
            and is_area_code(value[:6])
        )
    return False


def is_birth_date(yyyymmdd: str) -> bool:
    """A calendar date between 1900-01-01 and today."""
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return EARLIEST_BIRTH <= born <= date.today()


@lru_cache(maxsize=8192)
def is_area_code(code: str) -> bool:
    """A county-level administrative division code (GB/T 2260) that exists or once existed.

    python-stdnum ships the table with validity periods; the period is deliberately not checked
    against the birth year, because a person keeps the number issued where they registered, which
    can be a county created after their birth.
    """
    if len(code) != 6 or not code.isdigit():
        return False
    parts = numdb.get("cn/loc").info(code)
    return any("county" in props for _, props in parts)


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass the Luhn (ISO/IEC 7812-1) check."""
    return str((10 - _luhn_sum(partial + "0")) % 10)


def is_luhn(number: str) -> bool:
    """Luhn check, as used by bank cards (ISO/IEC 7812-1; UnionPay cards start with 62)."""
    return number.isascii() and number.isdigit() and _luhn_sum(number) % 10 == 0


def _luhn_sum(number: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total


CARD_MII = "3456"


def is_bank_card(digits: str) -> bool:
    """16-19 digits passing Luhn, that are not a resident ID and not filler.

    About 10% of valid 18-digit resident IDs also pass Luhn (REFERENCE §2): the ID wins. Payment
    cards start with an ISO/IEC 7812 major industry identifier of 3-6 (travel, banking and
    financial, merchandising and banking: Amex/JCB 3, Visa 4, Mastercard 5, UnionPay 62); 1-2
    are airlines, 7-9 petroleum, health, national use — and most order numbers. A run of one
    repeated digit is a placeholder, not an account.
    """
    return card_shape(digits) and not (len(digits) == 18 and is_resident_id(digits))


# GB 32100-2015 unified social credit code (统一社会信用代码): 18 characters over 31 symbols.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997 organisation code, embedded at positions 9-17 of a USCC.
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc_check_char(first17: str) -> str:
    """The 18th character of a GB 32100 code: ``alphabet[(31 - sum(v_i * w_i) mod 31) mod 31]``."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """The 9th character of a GB 11714 organisation code: 11 - (sum mod 11); 10 -> X, 11 -> 0.
    Digits count as their value and letters as A=10, B=11 … (base 36)."""
    total = sum(int(c, 36) * w for c, w in zip(first8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def is_uscc(value: str) -> bool:
    """A GB 32100 code whose own check character and embedded GB 11714 code both verify, with a
    real registration authority (1-9, A-G, N, Y: GB 32100 Table 1) and a digit area code."""
    return (
        len(value) == 18
        and all(c in USCC_ALPHABET for c in value)
        and value[0] in "123456789ABCDEFGNY"
        and value[2:8].isdigit()
        and value[17] == uscc_check_char(value[:17])
        and value[16] == org_code_check_char(value[8:16])
    )


# -- batch forms --------------------------------------------------------------------------------
# The same checks over many candidates at once with numpy, for the column engine: a column of
# IDs yields one candidate per cell, and a Python loop per candidate would dominate the scan.
# Each agrees with its one-value form above (tests/scan/test_scan_validators.py checks that).


@lru_cache(maxsize=1)
def _area_codes() -> np.ndarray:
    """Every county-level GB/T 2260 code in python-stdnum's table, sorted, as integers."""
    codes = []
    province = None
    with importlib.resources.files("stdnum").joinpath("cn/loc.dat").open(encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            if not line.startswith(" "):
                province = line.split()[0]
            elif "county" in line:
                codes.append(int(province + line.split()[0]))
    return np.unique(np.array(codes, dtype=np.int64))


@lru_cache(maxsize=1)
def _area_table() -> np.ndarray:
    """Booleans over 000000-999999: is a GB/T 2260 county code."""
    table = np.zeros(1_000_000, dtype=bool)
    table[_area_codes()] = True
    return table


def warm() -> None:
    """Load the area-code tables now (scan workers fork after this, see ``scan/pool.py``)."""
    _area_table()
    is_area_code("110101")


def _known_areas(area: np.ndarray) -> np.ndarray:
    """Whether each code is in ``_area_codes()``, by a table lookup (``np.isin`` sorts the codes
    with the whole table every call); codes outside 0-999999 come from non-digits: not known."""
    inside = (area >= 0) & (area < 1_000_000)
    return _area_table()[np.where(inside, area, 0)] & inside


def _digits(values: list[str], width: int) -> np.ndarray:
    """(n, width) uint8 array of the characters' code points (ASCII input)."""
    return np.frombuffer("".join(values).encode("ascii"), dtype=np.uint8).reshape(len(values), width)


def _valid_dates(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)] + (leap & (m == 2))
    ok = (m >= 1) & (m <= 12) & (d >= 1) & (d <= mdays)
    today = date.today()
    ymd = y * 10000 + m * 100 + d
    return ok & (ymd >= 19000101) & (ymd <= today.year * 10000 + today.month * 100 + today.day)


def _by_length(values: list[str]) -> dict[int, np.ndarray]:
    """Positions of the values, grouped by length."""
    lens = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    return {int(n): np.flatnonzero(lens == n) for n in np.unique(lens)}


def _matrix(values: list[str], idx: np.ndarray, width: int) -> np.ndarray | None:
    """(len(idx), width) uint8 code points of the values at ``idx`` (all ``width`` long), or None
    when one of them is not ASCII (the caller then checks those one by one)."""
    joined = "".join([values[i] for i in idx.tolist()])
    if not joined.isascii():
        return None
    return np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(len(idx), width)


_RIC_WEIGHTS = np.array(RIC_WEIGHTS, dtype=np.int64)
_POWERS = 10 ** np.arange(5, -1, -1, dtype=np.int64)  # the place values of six digits


def are_resident_ids(values: list[str], *, checked: bool = True) -> np.ndarray:
    """``is_resident_id`` for each value; with ``checked=False``, whether it has an 18-digit ID's
    shape (a known area, a real birth date, a last character 0-9 or X) whatever its check character."""
    out = np.zeros(len(values), dtype=bool)
    for n, idx in _by_length(values).items():
        raw = _matrix(values, idx, n) if n in (15, 18) else None
        if raw is None:  # not an ID's length, or not ASCII: one by one
            out[idx] = [is_resident_id(values[i]) for i in idx.tolist()] if checked else False
            continue
        if n == 15 and not checked:
            continue
        if n == 15:  # the legacy form: area + YYMMDD (19YY) + sequence, no check character
            body = raw.astype(np.int64) - 48
            y, m, d = 1900 + body[:, 6] * 10 + body[:, 7], body[:, 8] * 10 + body[:, 9], body[:, 10] * 10 + body[:, 11]
            area = (body[:, :6] * 10 ** np.arange(5, -1, -1)).sum(1)
            out[idx] = ((body >= 0) & (body <= 9)).all(1) & _valid_dates(y, m, d) & _known_areas(area)
            continue
        last = raw[:, 17]
        last = np.where(last == ord("x"), ord("X"), last)  # lowercase x
        body = raw[:, :17] - 48  # uint8: a byte below "0" wraps past 9 (such rows fail below)
        total = body @ _RIC_WEIGHTS  # small integers and products over columns, not int64 copies
        expected = np.frombuffer(RIC_CHECK_CHARS.encode(), dtype=np.uint8)[total % 11]
        ok = (body <= 9).all(axis=1) & ((last == expected) if checked else np.isin(last, _ID_LAST))
        y, m, d = body[:, 6:10] @ _POWERS[2:], body[:, 10:12] @ _POWERS[4:], body[:, 12:14] @ _POWERS[4:]
        out[idx] = ok & _valid_dates(y, m, d) & _known_areas(body[:, :6] @ _POWERS)
    return out


_ID_LAST = np.frombuffer(b"0123456789X", dtype=np.uint8)
_DOUBLED = np.zeros(256, dtype=np.uint8)  # a digit doubled, minus 9 past 9 (other bytes: 0)
_DOUBLED[:10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]


def _luhn_rows(digits: np.ndarray) -> np.ndarray:
    """Luhn over the rows of a (values, width) uint8 matrix of digit values (rows holding other
    values give any answer: the callers test them out). Sums of strided columns and a table of
    doubled digits, in small integers (4x less than doubling in place in int64)."""
    r = digits[:, ::-1]  # from the right: digits 1, 3, 5... as they are, 2, 4, 6... doubled
    return (r[:, 0::2].sum(1, dtype=np.int32) + _DOUBLED[r[:, 1::2]].sum(1, dtype=np.int32)) % 10 == 0


def are_luhn(values: list[str]) -> np.ndarray:
    """``is_luhn`` for each all-digit ASCII value, grouped by length."""
    out = np.zeros(len(values), dtype=bool)
    for n, idx in _by_length(values).items():
        raw = _matrix(values, idx, n) if n else None
        if raw is None:
            out[idx] = [v.isascii() and v.isdigit() and is_luhn(v) for v in (values[i] for i in idx.tolist())]
            continue
        a = raw - 48  # uint8: a byte below "0" wraps past 9
        out[idx] = (a <= 9).all(1) & _luhn_rows(a)
    return out


def card_shape(digits: str) -> bool:
    """``is_bank_card`` without its last test (a valid resident ID is not a card): a column whose
    header names cards counts a Luhn-valid number that is also an ID as the card it is declared."""
    return 16 <= len(digits) <= 19 and digits[0] in CARD_MII and len(set(digits)) > 1 and is_luhn(digits)


def are_bank_cards(values: list[str], ids_win: bool = True) -> np.ndarray:
    """``is_bank_card`` for each value (digits only); with ``ids_win=False`` an 18-digit value
    that is also a valid resident ID counts as a card (a column whose header names cards)."""
    out = np.zeros(len(values), dtype=bool)
    mii = np.frombuffer(CARD_MII.encode(), dtype=np.uint8)
    for n, idx in _by_length(values).items():
        raw = _matrix(values, idx, n) if 16 <= n <= 19 else None
        if raw is None:  # the resident-ID test, when it applies, runs once for all below
            out[idx] = [card_shape(values[i]) for i in idx.tolist()] if 16 <= n <= 19 else False
            continue
        a = raw - 48  # uint8: a byte below "0" wraps past 9
        ok = (a <= 9).all(1) & np.isin(raw[:, 0], mii) & (a != a[:, :1]).any(1) & _luhn_rows(a)
        out[idx] = ok
    if not ids_win:
        return out
    eighteen = np.flatnonzero(out & (np.fromiter(map(len, values), dtype=np.int64, count=len(values)) == 18))
    if len(eighteen):
        out[eighteen] &= ~are_resident_ids([values[i] for i in eighteen.tolist()])
    return out


_USCC_VALUE = np.full(256, -1, dtype=np.int64)
_USCC_VALUE[np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)] = np.arange(31)
_BASE36 = np.full(256, -1, dtype=np.int64)
_BASE36[np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)] = np.arange(36)


def are_usccs(values: list[str]) -> np.ndarray:
    """``is_uscc`` for each value."""
    out = np.zeros(len(values), dtype=bool)
    lens = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    idx = np.flatnonzero(lens == 18)  # (the length and ASCII tests over the batch, not per value)
    chosen = values if len(idx) == len(values) else [values[i] for i in idx.tolist()]
    if not "".join(chosen).isascii():
        idx = np.array([i for i in idx.tolist() if values[i].isascii()], dtype=np.int64)
        chosen = [values[i] for i in idx.tolist()]
    if not len(idx):
        return out
    raw = _digits(chosen, 18)
    val = _USCC_VALUE[raw]
    ok = (val >= 0).all(1)
    check = (31 - (val[:, :17] * np.array(USCC_WEIGHTS)).sum(1) % 31) % 31
    ok &= val[:, 17] == check
    ok &= np.isin(raw[:, 0], np.frombuffer(b"123456789ABCDEFGNY", dtype=np.uint8))
    ok &= ((raw[:, 2:8] >= 48) & (raw[:, 2:8] <= 57)).all(1)
    org = (_BASE36[raw[:, 8:16]] * np.array(ORG_WEIGHTS)).sum(1)
    c = 11 - org % 11
    expected = np.where(c == 10, ord("X"), np.where(c == 11, ord("0"), 48 + c))
    ok &= raw[:, 16] == expected
    out[idx] = ok
    return out
