"""Errors as a person reads them: what happened (the stable code and the service's message)
and what to do next."""

from __future__ import annotations

from suanshu.core.errors import SuanshuError
from suanshu.web.i18n import _

# code prefix -> the next step, longest prefix wins
NEXT_STEPS = {
    "auth.": lambda: _("Check the username and password, or ask the exchange operator to create an account."),
    "vault.": lambda: _("Check the file (CSV in UTF-8/GBK/GB18030, Parquet or .xlsx) and its name, then upload again."),
    "vault.unavailable": lambda: _("The vault's storage cannot be reached right now: try again in a few minutes; if it lasts, tell the exchange operator."),
    "vault.corrupt": lambda: _("The stored file no longer matches its recorded fingerprint, so it was not used: tell the exchange operator the code shown."),
    "vault.object_missing": lambda: _("The stored file is missing from the vault's storage: tell the exchange operator the code shown."),
    "gate.": lambda: _("Mask, hash or drop the columns named above, or make them hidden or aggregate-only in the policy, then submit again."),
    "policy.": lambda: _("Change the query to use only what the policy allows (see the policy in plain words on the component page)."),
    "query.": lambda: _("Change the query to use only what the policy allows (see the policy in plain words on the component page)."),
    "contract.budget": lambda: _("Sign a new contract with a larger budget."),
    "contract.bad_": lambda: _("Correct the form fields named above and submit again."),
    "text.": lambda: _("Correct the form fields named above and submit again."),
    "contract.": lambda: _("Open the contract list to check its state, or sign a new contract."),
    "ledger.exceeds_credits": lambda: _("Your cash balance does not cover the budget: deposit funds or lower the budget."),
    "component.": lambda: _("Correct the form fields named above and submit again."),
    "money.": lambda: _("Write amounts in yuan like 12.34 (fen precision)."),
    "user.": lambda: _("Correct the fields named above and try again."),
}


# What a refusal means, in the page's language (the service's own message follows it verbatim).
MEANINGS = {
    "query.column_not_allowed": lambda: _("The query uses a column the policy hides or does not allow there."),
    "query.not_aggregated": lambda: _("This component answers aggregates only: group by dimension columns and use count/sum/average."),
    "query.star": lambda: _("SELECT * is not allowed: name the columns."),
    "query.function_not_allowed": lambda: _("The query calls a function the policy does not allow."),
    "query.aggregate_not_allowed": lambda: _("The policy does not allow this aggregate on this column."),
    "query.parse_error": lambda: _("The SQL could not be read."),
    "query.not_single_select": lambda: _("Only one SELECT statement is allowed."),
    "query.budget_exhausted": lambda: _("The contract's privacy budget is spent."),
    "query.timeout": lambda: _("The query ran too long and was stopped."),
    "query.unknown_table": lambda: _("The query names a table other than this contract's."),
    "query.join": lambda: _("The join is not one the policy allows: join your own table once, on a join column, as t.key = own.column, and qualify every column."),
    "query.own_keys_not_unique": lambda: _("Your table repeats a key value: it needs one row per key (group it by the key first)."),
    "query.join_type_mismatch": lambda: _("Your key column has another type than the provider's join column (for example text against numbers)."),
    "query.bad_own_table": lambda: _("Your own table could not be used."),
    "query.construct_not_allowed": lambda: _("The query uses SQL the policy does not allow here."),
    "query.predicate_not_allowed": lambda: _("This filter is not allowed: compare dimension columns with plain values."),
    "query.subquery": lambda: _("Subqueries are not allowed: write one SELECT."),
    "query.cte": lambda: _("WITH clauses are not allowed: write one SELECT."),
    "query.window": lambda: _("Window functions are not allowed."),
    "query.set_operation": lambda: _("UNION, INTERSECT and EXCEPT are not allowed."),
    "query.dp_not_allowed": lambda: _("Differential privacy answers only plain counts, sums and averages grouped by dimensions."),
    "query.output_check_failed": lambda: _("The answer failed the check on the way out, so nothing was released."),
    "query.no_budget": lambda: _("The contract's privacy budget (ε) is spent."),
    "policy.mode_unsupported": lambda: _("This component does not answer SQL in its mode (a job-mode component takes programs)."),
    "policy.purpose_not_allowed": lambda: _("The contract's purpose is not one the policy allows."),
    "policy.expired": lambda: _("The provider's policy has expired."),
    "policy.residency_violation": lambda: _("The data may not be processed in this region."),
    "contract.budget_exhausted": lambda: _("The contract's money budget does not cover another query."),
    "contract.expired": lambda: _("The contract has expired."),
    "gate.personal_info_in_clear": lambda: _("Buyers would see personal information in clear."),
    "ledger.exceeds_credits": lambda: _("Not enough cash to hold this budget."),
}


def next_step(code: str) -> str:
    for prefix in sorted(NEXT_STEPS, key=len, reverse=True):
        if code.startswith(prefix):
            return NEXT_STEPS[prefix]()
    return _("Fix the input and try again; if it keeps failing, tell the exchange operator the code shown.")


def box(err: SuanshuError, title: str | None = None) -> dict:
    meaning = MEANINGS.get(err.code)
    return {"title": title or _("That did not work"), "code": err.code,
            "message": f"{meaning()} ({err.message})" if meaning else err.message, "next": next_step(err.code)}
