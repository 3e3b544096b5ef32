"""A buyer runs a compute-to-data job through the API and through the CLI and gets checked outputs and a bill.

Both on SQLite and PostgreSQL; the embedded (local) executor runs the programs.
"""

from __future__ import annotations

import base64
import io
import json
import time

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from suanshu.api.app import create_app
from suanshu.cli.main import app as cli_app
from suanshu.market import orgs
from suanshu.market.exchange import Exchange

JOB_POLICY = {"mode": "job", "columns": {"city": "dimension", "temperature_c": "aggregate",
                                         "station_id": "hidden"},
              "job": {"max_cpu": 2, "max_memory_gb": 2, "max_hours": 1, "max_output_bytes": 65536}}
POOL = {"name": "cs-general", "kind": "general", "arch": "x86_64", "region": "湖南-长沙", "cpu": 16, "memory_gb": 64,
        "price": {"cpu_hour": 36_000, "memory_gb_hour": 3_600}, "transfer_fen_per_gb": {"湖南-长沙": 0}}
PROGRAM = """
import os, pyarrow.parquet as pq
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "weather_job.parquet"))
g = t.group_by("city").aggregate([("temperature_c", "mean")]).sort_by("city")
pq.write_table(g, os.path.join(os.environ["SUANSHU_OUTPUT"], "mean_by_city.parquet"))
print("cities", g.num_rows)
"""
LEAK = """
import os, pyarrow.parquet as pq
t = pq.read_table(os.path.join(os.environ["SUANSHU_DATA"], "weather_job.parquet"))
print(sorted(set(t.column("station_id").to_pylist())))
"""


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def wait_finished(client, token: str, job_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=auth(token)).json()
        if job["state"] in ("succeeded", "failed", "denied", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_a_job_through_the_api(settings, sources):
    ex = Exchange.open(settings)
    _, op = orgs.ensure_operator(ex)
    with TestClient(create_app(ex)) as client:
        def org(name, role, region=""):
            r = client.post("/api/v1/orgs", json={"name": name, "roles": [role], "region": region}, headers=auth(op))
            assert r.status_code == 201, r.text
            return r.json()["token"]

        meteo, buyer, hpc = org("meteo", "provider", "湖南-长沙"), org("insurer", "buyer"), org("hpc", "compute")
        assert client.post("/api/v1/ledger/deposits", json={"org": "insurer", "amount_fen": 100_000},
                           headers=auth(op)).status_code in (200, 201)
        with sources["files"]["weather_gbk"].open("rb") as fh:
            assert client.post("/api/v1/vault/assets", headers=auth(meteo), files={"file": ("w.csv", fh)},
                               data={"name": "weather"}).status_code == 201
        r = client.post("/api/v1/components", headers=auth(meteo), json={
            "name": "weather_job", "asset": "weather", "policy": JOB_POLICY, "price_fen": 300,
            "source_legality_statement": "气象站业务观测数据，依法取得并有权对外提供"})
        assert r.status_code == 201, r.text
        if r.json()["state"] == "in_review":  # the operator lists it
            assert client.post(f"/api/v1/components/{r.json()['id']}/approve", headers=auth(op)).status_code == 200
        assert client.post("/api/v1/pools", json=POOL, headers=auth(hpc)).status_code == 201
        contract = client.post("/api/v1/contracts", json={"component": "weather_job", "budget_fen": 20_000},
                               headers=auth(buyer)).json()

        r = client.post(f"/api/v1/contracts/{contract['id']}/queries", json={"sql": "SELECT 1"},
                        headers=auth(buyer))  # a job contract takes programs, not SQL
        assert r.status_code == 422 and r.json()["error"]["code"] == "policy.mode_unsupported", r.text

        body = {"program": PROGRAM, "cpu": 1, "memory_gb": 1, "hours": 0.05}
        headers = {**auth(buyer), "Idempotency-Key": "job-1"}
        r = client.post(f"/api/v1/contracts/{contract['id']}/jobs", json=body, headers=headers)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["state"] == "placed" and job["placement"]["pool_name"] == "cs-general"
        replay = client.post(f"/api/v1/contracts/{contract['id']}/jobs", json=body, headers=headers)
        assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["id"] == job["id"]
        assert client.get(f"/api/v1/jobs/{job['id']}", headers=auth(meteo)).status_code == 200  # provider sees it
        assert client.get(f"/api/v1/jobs/{job['id']}/outputs", headers=auth(meteo)).status_code == 403

        job = wait_finished(client, buyer, job["id"])
        assert job["state"] == "succeeded", job["error"]
        files = client.get(f"/api/v1/jobs/{job['id']}/outputs", headers=auth(buyer)).json()["files"]
        table = pq.read_table(io.BytesIO(base64.b64decode(files[0]["content_base64"])))
        weather = sources["weather"]
        assert table.column("city").to_pylist() == sorted(set(weather.column("city").to_pylist()))
        assert "cities" in client.get(f"/api/v1/jobs/{job['id']}/logs", headers=auth(buyer)).text
        bill = job["receipt"]
        assert bill["price_fen"] == 300 + bill["compute_fen"] + bill["transfer_fen"]
        assert bill["data_provider_fen"] + bill["compute_provider_fen"] + bill["operator_fen"] == bill["price_fen"]
        # the exchange's runner made the receipt's entry; the buyer may still prove it, others not
        proof = client.get(f"/api/v1/audit/proof/{bill['audit_seq']}", headers=auth(buyer))
        assert proof.status_code == 200 and proof.json()["leaf_index"] == bill["audit_leaf_index"]
        assert client.get(f"/api/v1/audit/proof/{bill['audit_seq']}", headers=auth(hpc)).status_code == 404
        assert [j["id"] for j in client.get("/api/v1/jobs", headers=auth(buyer)).json()["items"]] == [job["id"]]
        assert client.get("/api/v1/jobs", headers=auth(hpc)).json()["items"] == []  # not a party to it

        # a program that prints a hidden column is denied; nothing is released
        leak = client.post(f"/api/v1/contracts/{contract['id']}/jobs", json=dict(body, program=LEAK),
                           headers=auth(buyer)).json()
        leak = wait_finished(client, buyer, leak["id"])
        assert (leak["state"], leak["error"]["code"]) == ("denied", "job.output_hidden_value")
        r = client.get(f"/api/v1/jobs/{leak['id']}/outputs", headers=auth(buyer))
        assert r.status_code == 409 and r.json()["error"]["code"] == "job.no_outputs"
        assert "withheld" in client.get(f"/api/v1/jobs/{leak['id']}/logs", headers=auth(buyer)).text
        r = client.post(f"/api/v1/jobs/{leak['id']}/cancel", headers=auth(buyer))
        assert r.status_code == 409 and r.json()["error"]["code"] == "job.finished"
        r = client.post(f"/api/v1/contracts/{contract['id']}/jobs", json=dict(body, cpu=8), headers=auth(buyer))
        assert r.json()["state"] == "denied" and r.json()["error"]["code"] == "job.resources_not_allowed"
        first = client.get("/api/v1/jobs?limit=2", headers=auth(buyer)).json()
        rest = client.get(f"/api/v1/jobs?limit=2&cursor={first['next_cursor']}", headers=auth(buyer)).json()
        assert [j["id"] for j in first["items"] + rest["items"]] == [job["id"], leak["id"], r.json()["id"]]
        assert rest["next_cursor"] is None
    ex.close()


@pytest.fixture
def cli(settings, database_url):
    runner = CliRunner()
    env = {"SUANSHU_HOME": str(settings.home), "SUANSHU_DATABASE_URL": database_url}

    def run(*args, code: int = 0):
        result = runner.invoke(cli_app, [str(a) for a in args], env=env)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result

    run.json = lambda *args, code=0: json.loads(run(*args, "--format", "json", code=code).stdout)
    return run


def test_a_job_through_the_cli(cli, sources, tmp_path):
    cli("init")
    cli("org", "create", "meteo", "--role", "provider", "--region", "湖南-长沙")
    cli("org", "create", "insurer", "--role", "buyer")
    cli("org", "create", "hpc", "--role", "compute")
    cli("ledger", "deposit", "insurer", "1000")
    cli("vault", "add", "meteo", sources["files"]["weather_gbk"], "--name", "weather")
    comp = cli.json("component", "publish", "meteo", "--asset", "weather", "--name", "weather_job", "--price", "3.00",
                    "--policy", json.dumps(JOB_POLICY), "--legality", "气象站业务观测数据，依法取得")
    if comp["state"] == "in_review":  # the operator lists it
        cli("review", "approve", comp["id"])
    cli("pool", "add", "hpc", json.dumps(POOL))
    contract = cli.json("contract", "request", "insurer", "weather_job", "--budget", "200")
    program = tmp_path / "mean.py"
    program.write_text(PROGRAM)

    job = cli.json("job", "submit", contract["id"], program, "--cpu", "1", "--memory-gb", "1", "--hours", "0.05")
    assert job["state"] == "succeeded" and job["receipt"]["data_fen"] == 300
    assert cli.json("job", "status", job["id"])["receipt"] == job["receipt"]
    assert "cities" in cli.json("job", "logs", job["id"])["logs"]
    out = cli.json("job", "outputs", job["id"], "--dir", tmp_path / "out")
    assert pq.read_table(out["files"][0]["path"]).num_rows > 0
    assert [j["id"] for j in cli.json("job", "list")] == [job["id"]]

    leak = tmp_path / "leak.py"
    leak.write_text(LEAK)
    denied = cli.json("job", "submit", contract["id"], leak, "--hours", "0.05", code=3)
    assert denied["error"]["code"] == "job.output_hidden_value"
    assert cli.json("job", "outputs", denied["id"], code=3)["error"]["code"] == "job.no_outputs"
    assert cli.json("job", "submit", contract["id"], program, "--accelerator", "bad", code=2)["error"]["code"] \
        == "job.bad_request"
    assert cli.json("job", "cancel", job["id"], code=3)["error"]["code"] == "job.finished"
