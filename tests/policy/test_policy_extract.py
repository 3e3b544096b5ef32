"""extract mode: rows of allowed columns, under the row cap, never a hidden value."""

from __future__ import annotations

import pytest

from suanshu.core.errors import Refused, UsageError
from suanshu.policy import Policy, run, run_extract

P = Policy.from_dict({"mode": "extract", "table": "customers", "max_rows": 20,
                      "columns": {"city": "dimension", "region": "dimension", "age": "aggregate",
                                  "income": "hidden", "name": "hidden"}})  # fmt: skip


def test_rows_of_allowed_columns_match_the_data(sandbox, customers_rows):
    answer = run_extract(sandbox, P, "SELECT city, age FROM customers WHERE city = 'Lhasa' ORDER BY age, city")
    expected = sorted((r["city"], r["age"]) for r in customers_rows if r["city"] == "Lhasa")
    assert answer.rows == expected and answer.columns == ["city", "age"]
    assert answer.mode == "extract" and answer.epsilon_spent == 0 and not answer.truncated


def test_row_cap_truncates(sandbox, customers_rows):
    answer = run_extract(sandbox, P, "SELECT region, age AS years FROM customers ORDER BY age, region")
    assert answer.rows_out == 20 and answer.truncated and answer.columns == ["region", "years"]
    assert answer.rows == [(r, a) for a, r in sorted((r["age"], r["region"]) for r in customers_rows)[:20]]
    # the caller's cap (the exchange's max_result_rows) is respected too
    assert run_extract(sandbox, P, "SELECT city FROM customers", max_rows=3).rows_out == 3
    assert not run_extract(sandbox, P, "SELECT city FROM customers LIMIT 5").truncated


def test_no_hidden_value_in_any_answer(sandbox):
    answer = run(sandbox, P, "SELECT upper(city) AS c, age + 1 AS a FROM customers WHERE age > 30 LIMIT 20")
    assert "secret" not in repr(answer)
    with pytest.raises(Refused) as info:
        run(sandbox, P, "SELECT city FROM customers WHERE income > 80000")
    assert info.value.code == "query.column_not_allowed"


def test_modes_do_not_mix(sandbox, customers_policy):
    with pytest.raises(UsageError) as info:
        run_extract(sandbox, customers_policy, "SELECT city FROM customers")
    assert info.value.code == "policy.mode_mismatch"
