"""Money is integer fen (分). Never float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from suanshu.core.errors import UsageError

_YUAN = re.compile(r"^\s*[¥￥]?\s*(\d+)(?:\.(\d{1,2}))?\s*(元)?\s*$")
_FEN = re.compile(r"^\s*(\d+)\s*(fen|分)\s*$", re.IGNORECASE)


def parse_amount(text: str | int) -> int:
    """Parse ``"12.34"``, ``"¥12.34"``, ``"12元"`` as yuan, or ``"1234fen"`` / ``"1234分"`` as fen.

    Returns fen. Integers passed in are already fen.
    """
    if isinstance(text, bool):
        raise UsageError("money.invalid", f"not an amount: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise UsageError("money.negative", "amounts must not be negative")
        return text
    m = _FEN.match(text)
    if m:
        return int(m.group(1))
    m = _YUAN.match(text)
    if not m:
        raise UsageError(
            "money.invalid",
            f"not an amount: {text!r}; write yuan like 12.34 or ¥12.34, or fen like 1234fen",
        )
    yuan, cents = m.group(1), (m.group(2) or "").ljust(2, "0")
    return int(yuan) * 100 + int(cents)


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
