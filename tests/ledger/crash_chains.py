"""The deterministic linked chains the crash test's clients send (same ids on every retry)."""

from __future__ import annotations

import hashlib

from suanshu.ledger.codes import CNY, TransferCode, TransferFlags
from suanshu.ledger.engine import NewTransfer

AMOUNT = 7


def tid(c: int, i: int, k: int) -> str:
    return hashlib.sha256(f"{c}/{i}/{k}".encode()).hexdigest()[:32]


def chain(c: int, i: int, bank: str, a: str, b: str) -> list[NewTransfer]:
    """bank -> a, a -> b, b -> bank: all three or none (a's limit flag holds only as a whole)."""
    legs = [(bank, a), (a, b), (b, bank)]
    return [NewTransfer(tid(c, i, k), dr, cr, AMOUNT, CNY, TransferCode.DEPOSIT,
                        TransferFlags.LINKED if k < 2 else 0, memo={"c": c, "i": i})
            for k, (dr, cr) in enumerate(legs)]
