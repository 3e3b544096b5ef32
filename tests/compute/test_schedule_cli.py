"""`suanshu schedule` and `suanshu schedule simulate`: the stable contract, through the real CLI."""

import json

import pytest
from typer.testing import CliRunner

from suanshu.cli.main import app
from suanshu.compute import instances

runner = CliRunner()

POOLS = [
    {"id": "xt-910b", "kind": "ai", "arch": "aarch64", "region": "湖南-湘潭", "cpu": 192, "memory_gb": 1536,
     "accelerators": {"ascend-910b": 8},
     "price": {"cpu_hour": 5, "memory_gb_hour": 1, "accelerator_hour": {"ascend-910b": 1200}},
     "transfer_fen_per_gb": {"湖南-湘潭": 0, "湖南-长沙": 15}},
    {"id": "cs-cpu", "kind": "general", "arch": "x86_64", "region": "湖南-长沙", "cpu": 64, "memory_gb": 256,
     "price": {"cpu_hour": 8, "memory_gb_hour": 2}, "transfer_fen_per_gb": {"湖南-长沙": 0}},
]
JOBS = [
    {"id": "train", "cpu": 16, "memory_gb": 64, "accelerators": {"ascend-910b": 2}, "hours": 2.5, "nodes": 2,
     "data": {"region": "湖南-长沙", "gb": 10.5}, "residency": ["湖南-湘潭", "湖南-长沙"], "buyer": "a"},
    {"id": "etl", "cpu": 8, "memory_gb": 16, "hours": 1, "data": {"region": "湖南-长沙", "gb": 3}},
    {"id": "h100", "cpu": 8, "memory_gb": 16, "accelerators": {"nvidia-h100": 1}, "hours": 1},
]


@pytest.fixture
def files(tmp_path):
    def write(name, obj):
        path = tmp_path / name
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False), encoding="utf-8")
        return str(path)
    return write


@pytest.mark.parametrize("mode", ["exact", "heuristic", "auto"])
def test_json_contract(files, mode):
    res = runner.invoke(app, ["schedule", "--pools", files("p.json", POOLS), "--jobs", files("j.json", JOBS),
                              "--format", "json", "--mode", mode])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"placements", "unplaced", "total_cost"}
    assert out["placements"] == [{"job": "train", "pool": "xt-910b", "cost": 12878},
                                 {"job": "etl", "pool": "cs-cpu", "cost": 96}]
    assert out["unplaced"] == [{"job": "h100", "reason": "no pool with nvidia-h100 in any region",
                                "code": "schedule.no_pool_with_accelerator"}]
    assert out["total_cost"] == 12878 + 96


def test_explain_adds_breakdown_and_why(files):
    res = runner.invoke(app, ["schedule", "--pools", files("p.json", {"pools": POOLS}),
                              "--jobs", files("j.json", {"jobs": JOBS}), "--explain"])
    out = json.loads(res.stdout)
    train = out["placements"][0]
    # 2 nodes x (16 cpu x 5 + 64 GB x 1 + 2 x 1200) per hour x 2.5 h, plus 10.5 GB x 15 = 157.5 -> 158.
    assert train["breakdown"]["compute"] == 12720 and train["breakdown"]["transfer"] == 158
    assert train["why"] == "the only feasible pool" and out["mode"] == "exact" and out["optimal"] is True


def test_table_for_people(files):
    res = runner.invoke(app, ["schedule", "--pools", files("p.json", POOLS), "--jobs", files("j.json", JOBS),
                              "--format", "table"])
    assert res.exit_code == 0
    assert "¥128.78" in res.stdout and "schedule.no_pool_with_accelerator" in res.stdout
    assert "2 placed, 1 unplaced" in res.stdout


@pytest.mark.parametrize("pools, jobs, code", [
    ("[not json", JOBS, "schedule.invalid_json"),
    (POOLS, {"id": "x"}, "schedule.invalid_input"),
    ([{**POOLS[0], "arch": "riscv"}], JOBS, "pool.invalid"),
    (POOLS, [{"id": "x", "hours": -1}], "schedule.invalid_job"),
    (POOLS, [JOBS[0], JOBS[0]], "schedule.duplicate_job"),
])
def test_bad_input_exits_2_with_a_stable_code(files, pools, jobs, code):
    res = runner.invoke(app, ["schedule", "--pools", files("p.json", pools), "--jobs", files("j.json", jobs),
                              "--format", "json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["error"]["code"] == code


def test_missing_file_and_bad_mode(files, tmp_path):
    res = runner.invoke(app, ["schedule", "--pools", str(tmp_path / "none.json"), "--jobs", files("j.json", JOBS)])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["code"] == "schedule.file_not_found"
    res = runner.invoke(app, ["schedule", "--pools", files("p.json", POOLS), "--jobs", files("j.json", JOBS),
                              "--mode", "psychic"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["code"] == "schedule.invalid_mode"


def test_every_job_in_exactly_one_list_on_a_generated_network(files):
    raw_pools = instances.pools(20, seed=7)
    raw_jobs = instances.jobs(120, raw_pools, seed=7, load=1.3)
    res = runner.invoke(app, ["schedule", "--pools", files("p.json", raw_pools), "--jobs", files("j.json", raw_jobs),
                              "--mode", "heuristic", "--time-limit", "5"])
    out = json.loads(res.stdout)
    ids = [p["job"] for p in out["placements"]] + [u["job"] for u in out["unplaced"]]
    assert sorted(ids) == sorted(j["id"] for j in raw_jobs)
    assert out["total_cost"] == sum(p["cost"] for p in out["placements"])


def test_simulate_reports_waits_utilisation_and_cost(files):
    pools = [{**POOLS[1], "cpu": 16}]
    trace = [{"id": f"j{i}", "cpu": 16, "memory_gb": 16, "hours": 2, "arrival": 0} for i in range(3)]
    trace.append({"id": "never", "cpu": 64, "memory_gb": 1, "hours": 1, "arrival": 1})
    res = runner.invoke(app, ["schedule", "simulate", "--pools", files("p.json", pools),
                              "--trace", files("t.json", trace), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    # One 16-cpu pool, three 2-hour jobs arriving together: they run one after another.
    assert [(j["job"], j["start"], j["finish"], j["wait"]) for j in out["jobs"]] == [
        ("j0", 0.0, 2.0, 0.0), ("j1", 2.0, 4.0, 2.0), ("j2", 4.0, 6.0, 4.0)]
    assert out["rejected"][0]["job"] == "never" and out["rejected"][0]["code"] == "schedule.too_large"
    assert out["pools"][0]["utilisation"]["cpu"] == 1.0
    s = out["summary"]
    assert s["makespan_hours"] == 6.0 and s["wait_hours"]["mean"] == 2.0 and s["completion_hours"]["max"] == 6.0
    assert s["total_cost"] == 3 * 2 * (16 * 8 + 16 * 2)
    table = runner.invoke(app, ["schedule", "simulate", "--pools", files("p.json", pools),
                                "--trace", files("t.json", trace), "--format", "table"])
    assert table.exit_code == 0 and "3 completed, 1 rejected" in table.stdout


def test_simulate_refuses_a_trace_without_arrivals(files):
    res = runner.invoke(app, ["schedule", "simulate", "--pools", files("p.json", POOLS),
                              "--trace", files("t.json", JOBS), "--format", "json"])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["code"] == "schedule.invalid_job"
