"""Ledger numbers, account and transfer codes, flags and result codes (TigerBeetle's names).

Results are listed in **precedence order**: when an event is wrong in several ways, the
engine reports the first check that fails, in the order below, as TigerBeetle's state
machine does (``src/state_machine.zig``: ``create_transfer`` and
``post_or_void_pending_transfer`` up to 0.15; later versions look for ``exists`` first,
which gives the same answer for every true resend). The enum members are declared in that
order, so ``list(CreateTransferResult)`` is the table.

create_transfers
================

One linear order serves both of TigerBeetle's paths: a *regular* transfer (plain or
PENDING) meets only the rows marked R, a post or void (POST_PENDING_TRANSFER /
VOID_PENDING_TRANSFER) only the rows marked P.

================================================ === ==============================================
result                                           on  when
================================================ === ==============================================
ok                                               RP  applied
linked_event_failed                              RP  another event of its chain failed: not applied
linked_event_chain_open                          RP  the batch ends with LINKED set
reserved_flag                                    RP  a flag bit we do not define is set
id_must_not_be_zero                              RP  ``id`` is all zeros
flags_are_mutually_exclusive                     P   two of PENDING, POST_PENDING, VOID_PENDING
debit_account_id_must_not_be_zero                R
credit_account_id_must_not_be_zero               R
accounts_must_be_different                       R   debit account == credit account
pending_id_must_be_zero                          R   ``pending_id`` set on a plain/pending transfer
pending_id_must_not_be_zero                      P
pending_id_must_be_different                     P   ``pending_id == id``
timeout_reserved_for_pending_transfer            RP  ``timeout`` set on a plain transfer, post or void
amount_must_not_be_zero                          R   (a post may send 0: the full pending amount)
ledger_must_not_be_zero                          R   (a post or void may send 0: the pending's)
code_must_not_be_zero                            R   (likewise)
debit_account_not_found                          R
credit_account_not_found                         R
accounts_must_have_the_same_ledger               R
transfer_must_have_the_same_ledger_as_accounts   R
pending_transfer_not_found                       P
pending_transfer_not_pending                     P   ``pending_id`` names a non-PENDING transfer
pending_transfer_has_different_debit_account_id  P   sent non-zero and not the pending's
pending_transfer_has_different_credit_account_id P   sent non-zero and not the pending's
pending_transfer_has_different_ledger            P   sent non-zero and not the pending's
pending_transfer_has_different_code              P   sent non-zero and not the pending's
exceeds_pending_transfer_amount                  P   post amount > pending amount
pending_transfer_has_different_amount            P   a void releases all of it (send 0 or equal)
exists_with_different_flags                      RP  same id already stored, see below
exists_with_different_pending_id                 RP
exists_with_different_debit_account_id           RP
exists_with_different_credit_account_id          RP
exists_with_different_amount                     RP
exists_with_different_memo                       RP  (where TigerBeetle compares user_data)
exists_with_different_timeout                    RP
exists_with_different_code                       RP
exists                                           RP  identical resend: nothing changes
pending_transfer_already_posted                  P   a pending transfer resolves once
pending_transfer_already_voided                  P
pending_transfer_expired                         P   its ``timeout`` ran out (voided by the sweeper,
                                                     or due and not swept yet)
overflows_debits_pending                         R   a balance would leave its signed 64-bit column
overflows_credits_pending                        R
overflows_debits_posted                          R
overflows_credits_posted                         R
overflows_debits                                 R   debits pending + posted + amount overflows
overflows_credits                                R
exceeds_credits                                  R   DEBITS_MUST_NOT_EXCEED_CREDITS and debits
                                                     pending + posted + amount > credits posted
exceeds_debits                                   R   CREDITS_MUST_NOT_EXCEED_DEBITS and credits
                                                     pending + posted + amount > debits posted
================================================ === ==============================================

``exists*`` compares the event with the stored transfer of the same id, in this order:
flags, pending_id, debit_account_id, credit_account_id, amount, memo, timeout, code. (TigerBeetle
compares flags first because they change what the other fields mean, and pending_id next
for posts and voids because a different pending transfer implies different accounts. Memo
stands where TigerBeetle compares ``user_data``.) For a post or void, fields sent as zero
are compared after filling them in from the pending transfer, as TigerBeetle does.

Note the TigerBeetle detail kept on purpose: ``exists`` comes *before*
``pending_transfer_already_posted``, so resending the very post that resolved a pending
transfer is an idempotent ``exists``, while a *new* post of it is ``already_posted``.

create_accounts
===============

reserved_flag, id_must_not_be_zero, flags_are_mutually_exclusive (both limit flags),
ledger_must_not_be_zero, code_must_not_be_zero, then for an existing id:
exists_with_different_flags, exists_with_different_owner (where TigerBeetle compares
user_data), exists_with_different_ledger, exists_with_different_code, exists. Chains:
linked_event_failed, linked_event_chain_open as for transfers.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag, StrEnum, auto

CNY = 156  # ledger number: ISO 4217 numeric for CNY; amounts are fen

MAX_AMOUNT = 2**63 - 1  # balances live in signed 64-bit columns (BIGINT)


class AccountCode(IntEnum):
    BANK = 1  # the exchange's settlement bank: money from outside; may go negative
    CASH = 10  # an org's available funds (DEBITS_MUST_NOT_EXCEED_CREDITS)
    ESCROW = 20  # the exchange's clearing account for holds being settled
    REVENUE = 30  # operator commission income


class TransferCode(IntEnum):
    DEPOSIT = 1
    WITHDRAW = 2
    HOLD = 10
    CHARGE = 20
    PROVIDER_SHARE = 21  # the data provider's share
    OPERATOR_COMMISSION = 22
    COMPUTE_SHARE = 23  # the compute provider's share
    RELEASE = 30


class AccountFlags(IntFlag):
    LINKED = 1
    DEBITS_MUST_NOT_EXCEED_CREDITS = 2
    CREDITS_MUST_NOT_EXCEED_DEBITS = 4


class TransferFlags(IntFlag):
    LINKED = 1
    PENDING = 2
    POST_PENDING_TRANSFER = 4
    VOID_PENDING_TRANSFER = 8


ACCOUNT_FLAGS_KNOWN = int(AccountFlags.LINKED | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
                          | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
TRANSFER_FLAGS_KNOWN = int(TransferFlags.LINKED | TransferFlags.PENDING
                           | TransferFlags.POST_PENDING_TRANSFER
                           | TransferFlags.VOID_PENDING_TRANSFER)


class CreateAccountResult(StrEnum):
    """Declared in precedence order (see the module docstring); values are the lowercase names."""

    OK = auto()
    LINKED_EVENT_FAILED = auto()
    LINKED_EVENT_CHAIN_OPEN = auto()
    RESERVED_FLAG = auto()
    ID_MUST_NOT_BE_ZERO = auto()
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = auto()
    LEDGER_MUST_NOT_BE_ZERO = auto()
    CODE_MUST_NOT_BE_ZERO = auto()
    EXISTS_WITH_DIFFERENT_FLAGS = auto()
    EXISTS_WITH_DIFFERENT_OWNER = auto()
    EXISTS_WITH_DIFFERENT_LEDGER = auto()
    EXISTS_WITH_DIFFERENT_CODE = auto()
    EXISTS = auto()


class CreateTransferResult(StrEnum):
    """Declared in precedence order (see the module docstring); values are the lowercase names."""

    OK = auto()
    LINKED_EVENT_FAILED = auto()
    LINKED_EVENT_CHAIN_OPEN = auto()
    RESERVED_FLAG = auto()
    ID_MUST_NOT_BE_ZERO = auto()
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = auto()
    DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = auto()
    CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = auto()
    ACCOUNTS_MUST_BE_DIFFERENT = auto()
    PENDING_ID_MUST_BE_ZERO = auto()
    PENDING_ID_MUST_NOT_BE_ZERO = auto()
    PENDING_ID_MUST_BE_DIFFERENT = auto()
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = auto()
    AMOUNT_MUST_NOT_BE_ZERO = auto()
    LEDGER_MUST_NOT_BE_ZERO = auto()
    CODE_MUST_NOT_BE_ZERO = auto()
    DEBIT_ACCOUNT_NOT_FOUND = auto()
    CREDIT_ACCOUNT_NOT_FOUND = auto()
    ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER = auto()
    TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS = auto()
    PENDING_TRANSFER_NOT_FOUND = auto()
    PENDING_TRANSFER_NOT_PENDING = auto()
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID = auto()
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID = auto()
    PENDING_TRANSFER_HAS_DIFFERENT_LEDGER = auto()
    PENDING_TRANSFER_HAS_DIFFERENT_CODE = auto()
    EXCEEDS_PENDING_TRANSFER_AMOUNT = auto()
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = auto()
    EXISTS_WITH_DIFFERENT_FLAGS = auto()
    EXISTS_WITH_DIFFERENT_PENDING_ID = auto()
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID = auto()
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID = auto()
    EXISTS_WITH_DIFFERENT_AMOUNT = auto()
    EXISTS_WITH_DIFFERENT_MEMO = auto()
    EXISTS_WITH_DIFFERENT_TIMEOUT = auto()
    EXISTS_WITH_DIFFERENT_CODE = auto()
    EXISTS = auto()
    PENDING_TRANSFER_ALREADY_POSTED = auto()
    PENDING_TRANSFER_ALREADY_VOIDED = auto()
    PENDING_TRANSFER_EXPIRED = auto()
    OVERFLOWS_DEBITS_PENDING = auto()
    OVERFLOWS_CREDITS_PENDING = auto()
    OVERFLOWS_DEBITS_POSTED = auto()
    OVERFLOWS_CREDITS_POSTED = auto()
    OVERFLOWS_DEBITS = auto()
    OVERFLOWS_CREDITS = auto()
    EXCEEDS_CREDITS = auto()
    EXCEEDS_DEBITS = auto()
