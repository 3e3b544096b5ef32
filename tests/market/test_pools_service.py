import pytest

from compute.test_pools import POOL
from suanshu.core.errors import Conflict, Refused
from suanshu.market import orgs, pools
from suanshu.market.exchange import Exchange


@pytest.fixture
def ex(settings):
    exchange = Exchange.open(settings)
    orgs.ensure_operator(exchange)
    yield exchange
    exchange.close()


def test_compute_providers_register_pools(ex):
    orgs.create_org(ex, None, "xiangjiang-ai", ["compute"], region="湖南-湘潭")
    orgs.create_org(ex, None, "meteo", ["provider"])
    pool = pools.register(ex, orgs.local_actor(ex, "xiangjiang-ai"), POOL)
    assert [p.id for p in pools.list_pools(ex)] == [pool.id]
    with pytest.raises(Conflict):
        pools.register(ex, orgs.local_actor(ex, "xiangjiang-ai"), POOL)
    with pytest.raises(Refused) as err:
        pools.register(ex, orgs.local_actor(ex, "meteo"), POOL)
    assert err.value.code == "auth.role_required"
