from __future__ import annotations

import dataclasses

import pytest
from policy_helpers import POLICY_DICT

from suanshu.core.errors import UsageError
from suanshu.policy import Policy


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


@pytest.mark.parametrize("mode", ["dp", "extract", "job"])
def test_planned_modes_say_they_come_later(mode):
    with pytest.raises(UsageError) as info:
        Policy.from_dict({**POLICY_DICT, "mode": mode})
    assert info.value.code == "policy.mode_unsupported"
    assert "not implemented yet" in info.value.message


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
    ({"min_group_size": 1}, ">= 2"),
    ({"min_group_size": True}, ">= 2"),
    ({"min_group_size": "10"}, ">= 2"),
    ({"min_group_size": 10.0}, ">= 2"),
    ({"min_group_szie": 10}, "unknown keys"),
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

    code = ("import sys, suanshu.policy; "
            "bad = [m for m in sys.modules if m.split('.')[:2] in (['suanshu', 'market'], ['suanshu', 'api'], "
            "['suanshu', 'cli'], ['suanshu', 'web'])]; assert not bad, bad")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)
