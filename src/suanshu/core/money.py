"""Money is integer fen (分). Never float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from suanshu.core.errors import UsageError

# The largest amount a ledger column holds (a signed 64-bit BIGINT, as api.deps.MAX_INT bounds
# request bodies): a larger one would overflow at the database insert instead of being refused.
MAX_FEN = 2**63 - 1

_YUAN = re.compile(r"^\s*[¥￥]?\s*(\d+)(?:\.(\d{1,2}))?\s*(元)?\s*$")
_FEN = re.compile(r"^\s*(\d+)\s*(fen|分)\s*$", re.IGNORECASE)


def parse_amount(text: str | int) -> int:
    """Parse ``"12.34"``, ``"¥12.34"``, ``"12元"`` as yuan, or ``"1234fen"`` / ``"1234分"`` as fen.

    Returns fen. Integers passed in are already fen. More than ``MAX_FEN`` is ``money.invalid``.
    """
    if isinstance(text, bool):
        raise UsageError("money.invalid", f"not an amount: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise UsageError("money.negative", "amounts must not be negative")
        return _bounded(text, text)
    m = _FEN.match(text)
    if m:
        return _bounded(_digits(m.group(1), text), text)
    m = _YUAN.match(text)
    if not m:
        raise UsageError(
            "money.invalid",
            f"not an amount: {text!r}; write yuan like 12.34 or ¥12.34, or fen like 1234fen",
        )
    yuan, cents = m.group(1), (m.group(2) or "").ljust(2, "0")
    return _bounded(_digits(yuan, text) * 100 + int(cents), text)


def _digits(digits: str, text: str) -> int:
    # int() refuses strings over 4300 digits with a ValueError; anything past 20 is too large anyway
    if len(digits.lstrip("0")) > 20:
        _too_large(text)
    return int(digits)


def _bounded(fen: int, text: str | int) -> int:
    if fen > MAX_FEN:
        _too_large(text)
    return fen


def _too_large(text: str | int):
    shown = text if len(str(text)) <= 40 else f"{str(text)[:40]}…"
    raise UsageError("money.invalid", f"amount too large: {shown!r}; at most {format_fen(MAX_FEN)}")


def format_fen(fen: int) -> str:
    """``123456`` -> ``¥1,234.56`` (negative amounts keep their sign)."""
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{rest:02d}"


def split_commission(amount: int, commission_bps: int) -> tuple[int, int]:
    """Split ``amount`` fen into (provider, operator) shares.

    The operator's commission is rounded down to the fen; the remainder goes to the
    provider, so the two always add up to ``amount`` exactly.
    """
    operator = amount * commission_bps // 10_000
    return amount - operator, operator


def to_decimal_yuan(fen: int) -> Decimal:
    try:
        return Decimal(fen) / 100
    except InvalidOperation as exc:  # pragma: no cover - int input cannot fail
        raise UsageError("money.invalid", str(exc)) from exc
