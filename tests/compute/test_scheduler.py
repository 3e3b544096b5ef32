"""The scheduler's filters, reasons, costs, gangs and fair share, on hand-made pools (exact and heuristic)."""

import pytest

from suanshu.compute import scheduler as sch
from suanshu.compute.scheduler import cost_breakdown, parse_job, pool_spec, schedule
from suanshu.core.errors import UsageError


def pool(pid, region="湖南-长沙", arch="x86_64", cpu=64, memory_gb=256, accelerators=None, cpu_hour=10,
         memory_gb_hour=1, accel_price=None, transfer=None, kind="general"):
    accelerators = accelerators or {}
    return {"id": pid, "kind": kind, "arch": arch, "region": region, "cpu": cpu, "memory_gb": memory_gb,
            "accelerators": accelerators,
            "price": {"cpu_hour": cpu_hour, "memory_gb_hour": memory_gb_hour,
                      "accelerator_hour": accel_price or {t: 1000 for t in accelerators}},
            "transfer_fen_per_gb": transfer if transfer is not None else {region: 0}}


def job(jid, cpu=4, memory_gb=8, hours=1, **extra):
    return {"id": jid, "cpu": cpu, "memory_gb": memory_gb, "hours": hours, **extra}


def run(pools, jobs, mode):
    return schedule(pools, jobs, mode=mode, time_limit=10)


MODES = ["exact", "heuristic"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("j, code, text", [
    (job("a", residency=["北京"]), sch.NO_REGION, "no pool in allowed regions [北京]"),
    (job("a", arch=["aarch64"], residency=["湖南-长沙"]), sch.NO_ARCH,
     "no aarch64 pool in allowed regions [湖南-长沙]"),
    (job("a", accelerators={"ascend-910b": 2}, residency=["湖南-长沙", "湖南-湘潭"]), sch.NO_ACCELERATOR,
     "no pool with ascend-910b in allowed regions [湖南-长沙, 湖南-湘潭]"),
    (job("a", data={"region": "上海", "gb": 1}), sch.UNREACHABLE, "can receive data from 上海"),
    (job("a", cpu=65), sch.TOO_LARGE, "cpu 65 > 64"),
    (job("a", cpu=40, nodes=2), sch.TOO_LARGE, "(2 nodes)"),
])
def test_each_filter_names_its_reason(mode, j, code, text):
    pools = [pool("cs"), pool("xt-gpu", region="湖南-湘潭", accelerators={"nvidia-h100": 8})]
    result = run(pools, [j], mode)
    assert result.placements == [] and [u.code for u in result.unplaced] == [code]
    assert text in result.unplaced[0].reason


@pytest.mark.parametrize("mode", MODES)
def test_filters_apply_in_order_residency_first(mode):
    # Wrong region and wrong arch: the reason is the first filter that empties the list.
    result = run([pool("cs")], [job("a", residency=["北京"], arch=["aarch64"])], mode)
    assert result.unplaced[0].code == sch.NO_REGION


@pytest.mark.parametrize("mode", MODES)
def test_capacity_exhausted_names_the_feasible_pools(mode):
    result = run([pool("p1", cpu=8), pool("p2", cpu=8)], [job(f"j{i}", cpu=8) for i in range(3)], mode)
    assert len(result.placements) == 2
    (u,) = result.unplaced
    assert u.code == sch.CAPACITY and "p1" in u.reason and "p2" in u.reason


@pytest.mark.parametrize("mode", MODES)
def test_cheapest_feasible_pool_wins_and_explains(mode):
    pools = [pool("dear", cpu_hour=20), pool("cheap", cpu_hour=5)]
    result = run(pools, [job("a")], mode)
    (p,) = result.placements
    assert p.pool == "cheap" and p.cost == 4 * 5 + 8 * 1 and "cheapest of 2" in p.why
    assert p.breakdown["fen_per_hour"] == {"cpu": 20, "memory": 8, "accelerators": {}, "total": 28}


@pytest.mark.parametrize("mode", MODES)
def test_transfer_price_moves_a_job_to_its_data(mode):
    # Compute is cheaper far away, but bringing 100 GB there costs more than it saves.
    pools = [pool("near", region="长沙", cpu_hour=10), pool("far", region="贵阳", cpu_hour=8,
                                                           transfer={"贵阳": 0, "长沙": 5})]
    result = run(pools, [job("a", data={"region": "长沙", "gb": 100})], mode)
    assert result.placements[0].pool == "near"
    bd = cost_breakdown(parse_job(job("a", data={"region": "长沙", "gb": 100})), pool_spec(pools[1]))
    assert bd["transfer"] == 500 and bd["cost"] == bd["compute"] + bd["transfer"]


def test_own_region_is_always_reachable_at_zero():
    p = pool_spec(pool("x", transfer={"湖南-湘潭": 3}))
    assert p.transfer_price("湖南-长沙") == 0 and p.transfer_price("湖南-湘潭") == 3
    assert p.transfer_price("上海") is None


@pytest.mark.parametrize("hours, gb, expected", [
    (1, 0, 280),  # 10 cpu x 2 fen + ... see below: exact integers stay exact
    (0.5, 0, 140),
    (0.1, 0.1, 28 + 1),  # 28 fen compute; 0.1 GB x 5 fen = 0.5 -> rounds half up to 1
    (1 / 3, 0, 93),  # 280/3 = 93.33 -> 93
])
def test_cost_rounds_each_part_half_up(hours, gb, expected):
    p = pool_spec(pool("x", cpu_hour=20, memory_gb_hour=10, transfer={"湖南-长沙": 0, "上海": 5}))
    j = parse_job(job("a", cpu=10, memory_gb=8, hours=hours, data={"region": "上海", "gb": gb}))
    assert cost_breakdown(j, p)["cost"] == expected


@pytest.mark.parametrize("mode", MODES)
def test_gang_is_all_or_nothing_on_one_pool(mode):
    # 3 nodes x 8 accelerators = 24: no single pool has 24, so the gang waits whole.
    pools = [pool(f"g{i}", accelerators={"ascend-910b": 16}, arch="aarch64") for i in range(2)]
    gang = job("gang", accelerators={"ascend-910b": 8}, nodes=3)
    result = run(pools, [gang, job("solo", accelerators={"ascend-910b": 8})], mode)
    assert [p.job for p in result.placements] == ["solo"]
    assert result.unplaced[0].code == sch.TOO_LARGE
    ok = run(pools, [job("gang", accelerators={"ascend-910b": 8}, nodes=2)], mode)
    assert ok.placements[0].cost == 2 * (8 * 1000 + 4 * 10 + 8 * 1)


@pytest.mark.parametrize("mode", MODES)
def test_fair_share_between_buyers_when_short(mode):
    # Room for 4 equal jobs; buyer a asks for 5, b for 2, c for 1: every buyer gets one first (max-min),
    # then the fourth place goes to a second job of a or b (their second jobs rank equally).
    jobs = ([job(f"a{i}", cpu=16, buyer="a") for i in range(5)] + [job(f"b{i}", cpu=16, buyer="b") for i in range(2)]
            + [job("c0", cpu=16, buyer="c")])
    result = run([pool("p", cpu=64)], jobs, mode)
    placed = sorted(p.job for p in result.placements)
    assert placed in (["a0", "a1", "b0", "c0"], ["a0", "b0", "b1", "c0"])


@pytest.mark.parametrize("mode", MODES)
def test_more_placed_beats_cheaper(mode):
    # The big job comes first (best fair-share rank) but would push two small jobs out: two beat one.
    pools = [pool("cheap", cpu=8, cpu_hour=1)]
    jobs = [job("big", cpu=8, memory_gb=0), job("s1", cpu=4, memory_gb=0), job("s2", cpu=4, memory_gb=0)]
    result = run(pools, jobs, mode)
    assert len(result.placements) == 2 and result.unplaced[0].job == "big"


def test_auto_uses_exact_when_small():
    result = schedule([pool("p")], [job("a")], mode="auto")
    assert result.mode == "exact" and result.optimal is True


@pytest.mark.parametrize("spec, fragment", [
    ({"id": "", "hours": 1}, "id"),
    ({"id": "a", "hours": 0}, "hours"),
    ({"id": "a", "hours": 1, "cpu": -1}, "cpu"),
    ({"id": "a", "hours": 1, "cpu": 1.5}, "cpu"),
    ({"id": "a", "hours": 1, "arch": ["riscv"]}, "arch"),
    ({"id": "a", "hours": 1, "residency": []}, "residency"),
    ({"id": "a", "hours": 1, "data": {"region": "x", "gb": -1}}, "data.gb"),
    ({"id": "a", "hours": 1, "nodes": 0}, "nodes"),
    ({"id": "a", "hours": 1, "surprise": 1}, "unknown"),
    ({"id": "a", "hours": float("nan")}, "hours"),
])
def test_invalid_jobs_are_refused(spec, fragment):
    with pytest.raises(UsageError) as err:
        parse_job(spec)
    assert err.value.code == "schedule.invalid_job" and fragment in err.value.message


def test_duplicates_and_bad_pools_are_refused():
    with pytest.raises(UsageError) as err:
        schedule([pool("p")], [job("a"), job("a")])
    assert err.value.code == "schedule.duplicate_job"
    with pytest.raises(UsageError) as err:
        schedule([pool("p"), pool("p")], [job("a")])
    assert err.value.code == "schedule.duplicate_pool"
    with pytest.raises(UsageError) as err:
        schedule([{**pool("p"), "arch": "riscv"}], [job("a")])
    assert err.value.code == "pool.invalid"


def test_pool_list_output_is_accepted():
    listed = {**pool("gpu-1"), "id": "pool_0193", "name": "gpu-1", "org": "org_1"}
    assert schedule([listed], [job("a")]).placements[0].pool == "pool_0193"
