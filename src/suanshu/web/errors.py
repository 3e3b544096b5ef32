"""Errors as a person reads them: what happened (the stable code and the service's message)
and what to do next."""

from __future__ import annotations

from suanshu.core.errors import SuanshuError
from suanshu.web.i18n import _

# code prefix -> the next step, longest prefix wins
NEXT_STEPS = {
    "auth.": lambda: _("Check the username and password, or ask the exchange operator to create an account."),
    "vault.": lambda: _("Check the file (CSV in UTF-8/GBK/GB18030, Parquet or .xlsx) and its name, then upload again."),
    "gate.": lambda: _("Mask, hash or drop the columns named above, or make them hidden or aggregate-only in the policy, then submit again."),
    "policy.": lambda: _("Change the query to use only what the policy allows (see the policy in plain words on the component page)."),
    "query.": lambda: _("Change the query to use only what the policy allows (see the policy in plain words on the component page)."),
    "contract.budget": lambda: _("Sign a new contract with a larger budget."),
    "contract.": lambda: _("Open the contract list to check its state, or sign a new contract."),
    "ledger.exceeds_credits": lambda: _("Your cash balance does not cover the budget: deposit funds or lower the budget."),
    "component.": lambda: _("Correct the form fields named above and submit again."),
    "money.": lambda: _("Write amounts in yuan like 12.34 (fen precision)."),
    "user.": lambda: _("Correct the fields named above and try again."),
}


def next_step(code: str) -> str:
    for prefix in sorted(NEXT_STEPS, key=len, reverse=True):
        if code.startswith(prefix):
            return NEXT_STEPS[prefix]()
    return _("Fix the input and try again; if it keeps failing, tell the exchange operator the code shown.")


def box(err: SuanshuError, title: str | None = None) -> dict:
    return {"title": title or _("That did not work"), "code": err.code, "message": err.message,
            "next": next_step(err.code)}
