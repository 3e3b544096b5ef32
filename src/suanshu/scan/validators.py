"""Check-digit and structure validators for identifiers found by the detectors.

A regex finds candidates; these functions decide whether a candidate is real. They are what keeps
the scanner honest: an 18-digit order number is not a resident ID unless its check character,
birth date and area code all agree.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

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


def is_bank_card(digits: str) -> bool:
    """16-19 digits passing Luhn, that are not a resident ID and not filler.

    About 10% of valid 18-digit resident IDs also pass Luhn (REFERENCE §2): the ID wins. Card
    numbers never start with 0 (ISO/IEC 7812 major industry identifier 0 is not for cards), and
    a run of one repeated digit is a placeholder, not an account.
    """
    return (
        16 <= len(digits) <= 19
        and digits[0] != "0"
        and len(set(digits)) > 1
        and is_luhn(digits)
        and not (len(digits) == 18 and is_resident_id(digits))
    )
