"""components.publish refuses what the adapters might pass through, before anything is written."""

from __future__ import annotations

import pytest

from suanshu.core.errors import UsageError
from suanshu.core.money import MAX_FEN
from suanshu.market import components
from suanshu.market.components import ComponentSpec

POLICY = {"mode": "aggregate", "min_group_size": 5, "columns": {"city": "dimension", "temperature_c": "aggregate"}}


def spec(**overrides) -> ComponentSpec:
    return ComponentSpec(**{"name": "weather_x", "asset": "weather_hourly", "sql": None, "policy": POLICY,
                            "price_fen": 100, "desensitize": {}} | overrides)


@pytest.mark.parametrize(("bad", "code"), [
    ({"policy": [1, 2]}, "policy.invalid"),  # was a TypeError spreading it into a dict
    ({"price_fen": MAX_FEN + 1}, "money.invalid"),  # was an OverflowError at the insert
])
def test_bad_specs_are_usage_errors_and_list_nothing(world, bad, code):
    before = len(components.list_components(world.ex, world.actor("meteo")))
    with pytest.raises(UsageError) as err:
        components.publish(world.ex, world.actor("meteo"), spec(**bad))
    assert err.value.code == code
    assert len(components.list_components(world.ex, world.actor("meteo"))) == before


def test_the_component_name_is_its_policy_table(world):
    comp = components.publish(world.ex, world.actor("meteo"), spec(policy=POLICY | {"table": "weather"}))
    assert comp.policy["table"] == "weather_x"  # buyers query it by its name
