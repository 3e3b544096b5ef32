"""The console's next step fits the error: a vault that cannot be reached is not the user's file."""

from __future__ import annotations

from suanshu.web import errors


def test_vault_failures_of_the_exchange_do_not_ask_for_another_file():
    upload = errors.next_step("vault.bad_file")  # the user's file: check it, upload again
    steps = [errors.next_step(code) for code in ("vault.unavailable", "vault.corrupt", "vault.object_missing")]
    assert upload not in steps and len(set(steps)) == 3
