from __future__ import annotations

import dataclasses

import pytest
from policy_helpers import POLICY_DICT

from suanshu.core.errors import Refused, UsageError
from suanshu.policy import Policy

DPA = {"mode": "dp", "aggregates": ["count", "sum", "avg"]}
DP = {"epsilon_per_query": 1.0, "epsilon_total": 3.0, "bounds": {"income": [0, 100000], "age": [0, 120]}}


def test_round_trip_and_roles():
    p = Policy.from_dict(POLICY_DICT)
    assert Policy.from_dict(p.to_dict()) == p
    assert p.to_dict() == POLICY_DICT
    assert p.role("CITY") == "dimension" and p.role("Income") == "aggregate"
    assert p.role("name") == "hidden"
    assert p.role("ssn") == "hidden" and not p.is_listed("ssn")  # unlisted means hidden
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.min_group_size = 1
    with pytest.raises(TypeError):
        p.columns["name"] = "dimension"


def test_aggregates_serialise_in_canonical_order():
    p = Policy.from_dict({**POLICY_DICT, "aggregates": ["avg", "count", "avg"]})
    assert p.to_dict()["aggregates"] == ["count", "avg"]


def test_job_mode_takes_no_sql_queries(sandbox):
    """job mode (the compute issue's) runs programs, not SQL: the guard and engine say so."""
    from suanshu.policy import guard, run

    job = Policy.from_dict({"mode": "job", "table": "customers", "columns": {"city": "dimension"}, "job": {}})
    for call in (lambda: guard("SELECT count(*) FROM customers", job),
                 lambda: run(sandbox, job, "SELECT count(*) FROM customers")):
        with pytest.raises(UsageError) as info:
            call()
        assert info.value.code == "policy.mode_unsupported" and "no SQL" in info.value.message


@pytest.mark.parametrize(("change", "words"), [
    ({"mode": "select"}, "unknown mode"),
    ({"table": "vault.customers"}, "simple identifier"),
    ({"table": "x; DROP TABLE y"}, "simple identifier"),
    ({"table": ""}, "simple identifier"),
    ({"columns": {}}, "non-empty"),
    ({"columns": {"city": "visible"}}, "unknown role"),
    ({"columns": {"city": "dimension", "CITY": "hidden"}}, "letter case"),
    ({"columns": {"": "dimension"}}, "bad column name"),
    ({"aggregates": ["count", "median"]}, "unknown aggregate"),
    ({"aggregates": []}, "non-empty"),
    ({"aggregates": "count"}, "non-empty list"),
    ({"min_group_size": 1}, "from 2 to"),
    ({"min_group_size": True}, "from 2 to"),
    ({"min_group_size": "10"}, "from 2 to"),
    ({"min_group_size": 10.0}, "from 2 to"),
    ({"min_group_size": 10**23}, "from 2 to 1,000,000,000"),
    ({"min_group_szie": 10}, "unknown keys"),
    ({"max_rows": 10}, "does not apply to aggregate mode"),
    ({"dp": DP}, "does not apply to aggregate mode"),
    ({"entity": "ssn"}, "entity must name a column listed"),
    ({"purpose": []}, "non-empty list of strings"),
    ({"residency": [1]}, "non-empty list of strings"),
    ({"expiry": "2027-01-01"}, "with a zone"),
    ({"expiry": "tomorrow"}, "with a zone"),
    ({"mode": "dp"}, "missing keys ['dp']"),
    ({**DPA, "dp": DP, "aggregates": ["count", "max"]}, "no bounded sensitivity"),
    ({**DPA, "dp": {**DP, "bounds": {"income": [0, 1]}}}, "missing ['age']"),
    ({**DPA, "dp": {**DP, "bounds": {**DP["bounds"], "city": [0, 1]}}}, "not an aggregate column"),
    ({**DPA, "dp": {**DP, "bounds": {**DP["bounds"], "age": [5, 5]}}}, "lower < upper"),
    ({**DPA, "dp": {**DP, "epsilon_total": 0.5}}, "at least dp.epsilon_per_query"),
    ({**DPA, "dp": {**DP, "epsilon_per_query": 0}}, "in (0, 1e6)"),
    ({**DPA, "dp": {**DP, "epsilon_per_query": 1e-10}}, "at most 9 decimals"),
    ({**DPA, "dp": {**DP, "delta": 1e-6}}, "dp must be"),
    ({**DPA, "dp": DP, "entity": "city"}, "entity is not supported in dp mode"),
    ({"mode": "extract", "max_rows": 0}, "from 1 to"),
    ({"mode": "extract", "max_rows": 10**10}, "from 1 to"),
    ({"mode": "extract", "entity": "city"}, "does not apply to extract mode"),
])  # fmt: skip
def test_invalid_policies_are_refused_with_a_reason(change, words):
    with pytest.raises(UsageError) as info:
        Policy.from_dict({**POLICY_DICT, **change})
    assert info.value.code == "policy.invalid"
    assert words in info.value.message


def test_missing_keys_and_non_objects():
    with pytest.raises(UsageError, match="missing keys"):
        Policy.from_dict({k: v for k, v in POLICY_DICT.items() if k != "min_group_size"})
    with pytest.raises(UsageError, match="JSON object"):
        Policy.from_dict(["aggregate"])


def test_policy_is_a_pure_library():
    import subprocess
    import sys

    code = ("import sys; from suanshu.policy import *; "  # every name: the package imports them on use
            "bad = [m for m in sys.modules if m.split('.')[:2] in (['suanshu', 'market'], ['suanshu', 'api'], "
            "['suanshu', 'cli'], ['suanshu', 'web'])]; assert not bad, bad")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)


def test_issue_example_and_every_optional_key_round_trip():
    issue = {"mode": "aggregate", "table": "customers",
             "columns": {"city": "dimension", "age": "aggregate", "income": "aggregate", "id_no": "join",
                         "name": "hidden"},
             "aggregates": ["count", "sum", "avg"], "min_group_size": 10}  # fmt: skip
    assert Policy.from_dict(issue).role("id_no") == "join"
    for extra in ({**DPA, "dp": DP}, {"mode": "extract", "max_rows": 5, "min_group_size": 3},
                  {"entity": "id_no", "purpose": ["research"], "residency": ["cn-north"],
                   "expiry": "2030-01-01T08:00:00+08:00"}):  # fmt: skip
        p = Policy.from_dict({**issue, **extra})
        assert Policy.from_dict(p.to_dict()) == p
    assert Policy.from_dict({**issue, "mode": "extract"}).max_rows == 1000  # extract has a default cap
    assert Policy.from_dict({**issue, "expiry": "2030-01-01T08:00:00+08:00"}).to_dict()["expiry"] == "2030-01-01T00:00:00Z"


def test_epsilon_is_exact():
    p = Policy.from_dict({**POLICY_DICT, **DPA, "dp": {**DP, "epsilon_per_query": 0.1, "epsilon_total": 0.3}})
    assert 3 * p.dp.per_query_units == p.dp.total_units  # 0.1 + 0.1 + 0.1 == 0.3, exactly


def test_terms_purpose_expiry_residency():
    from datetime import UTC, datetime

    p = Policy.from_dict({**POLICY_DICT, "purpose": ["research", "credit"], "residency": ["cn-north"],
                          "expiry": "2030-01-01T00:00:00Z"})  # fmt: skip
    p.check_terms(purpose="research", region="cn-north", at=datetime(2029, 12, 31, tzinfo=UTC))
    for kwargs, code in [
        ({"purpose": "marketing", "region": "cn-north"}, "policy.purpose_not_allowed"),
        ({"purpose": None, "region": "cn-north"}, "policy.purpose_not_allowed"),  # undeclared fails closed
        ({"purpose": "research", "region": "us-east"}, "policy.residency_violation"),
        ({"purpose": "research", "region": None}, "policy.residency_violation"),
        ({"purpose": "research", "region": "cn-north", "at": datetime(2030, 1, 1, tzinfo=UTC)}, "policy.expired"),
    ]:  # fmt: skip
        with pytest.raises(Refused) as info:
            p.check_terms(**kwargs)
        assert info.value.code == code
    Policy.from_dict(POLICY_DICT).check_terms(purpose=None, region=None)  # no terms, nothing to refuse
