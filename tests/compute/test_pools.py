import copy

import pytest

from suanshu.compute.pools import parse_pool
from suanshu.core.errors import UsageError

POOL = {"name": "ascend-910b", "kind": "ai", "arch": "aarch64", "region": "湖南-湘潭", "cpu": 192,
        "memory_gb": 1536, "accelerators": {"ascend-910b": 8},
        "price": {"cpu_hour": 5, "memory_gb_hour": 1, "accelerator_hour": {"ascend-910b": 1200}},
        "transfer_fen_per_gb": {"湖南-湘潭": 0, "湖南-长沙": 15}}


def test_valid_pool_is_normalised():
    pool = parse_pool(POOL)
    assert pool["executor"] == "local" and pool["price"]["accelerator_hour"] == {"ascend-910b": 1200}


def test_transfer_defaults_to_own_region_only():
    spec = {k: v for k, v in POOL.items() if k != "transfer_fen_per_gb"}
    assert parse_pool(spec)["transfer_fen_per_gb"] == {"湖南-湘潭": 0}


@pytest.mark.parametrize("path, value", [
    (("kind",), "quantum"), (("arch",), "riscv"), (("cpu",), 0), (("cpu",), 1.5), (("memory_gb",), True),
    (("region",), " "), (("price", "cpu_hour"), -1), (("price", "accelerator_hour"), {}),
    (("accelerators",), {"Bad Name": 1}), (("name",), "Has Space"), (("executor",), "ssh://x"),
    (("transfer_fen_per_gb",), {"湖南-长沙": 0.5}), (("surprise",), 1),
    (("price", "cpu_hour"), 10**23), (("cpu",), 10**13),  # far past any pool: a typo
])
def test_invalid_pools_are_refused(path, value):
    spec = copy.deepcopy(POOL)
    target = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(UsageError) as err:
        parse_pool(spec)
    assert err.value.code == "pool.invalid"
