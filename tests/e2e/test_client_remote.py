"""suanshu.client and the CLI's remote mode against a real `suanshu serve` (uvicorn in a subprocess,
a free loopback port): publish -> review -> sign -> query -> settle -> prove, all over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from e2e.conftest import WEATHER_POLICY
from suanshu.cli.main import app
from suanshu.client import ApiError, Client


@pytest.fixture
def backend():
    return "sqlite"  # the server process and the services are the same on both; PostgreSQL runs elsewhere


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(settings, database_url):
    env = {**os.environ, "SUANSHU_HOME": str(settings.home), "SUANSHU_DATABASE_URL": database_url}
    env.pop("SUANSHU_URL", None)
    init = CliRunner().invoke(app, ["init", "--format", "json"], env=env)
    assert init.exit_code == 0, init.output
    op_token = json.loads(init.stdout)["operator_token"]
    port = _free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "suanshu"), "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # until it answers (readiness, not a timed assertion)
            if proc.poll() is not None:
                pytest.fail(f"suanshu serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/api/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, op_token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_client_and_remote_cli_trade_over_http(server, sources, tmp_path):
    url, op_token = server
    with Client(url, op_token) as op:
        assert op.me().name == "exchange"
        _, meteo_token = op.create_org("meteo", ["provider"], region="湖南-长沙")
        _, buyer_token = op.create_org("insurer", ["buyer"])
        assert {o.name for o in op.orgs()} == {"exchange", "meteo", "insurer"}
        op.deposit("insurer", 5_000)

        with Client(url, meteo_token) as meteo:
            asset = meteo.upload(sources["files"]["weather_gbk"], name="weather")
            assert (asset.encoding, asset.rows) == ("gb18030", 1500)
            assert meteo.scan(asset.id)["rows"] == 1500
            comps = [meteo.publish(name, asset="weather", policy=WEATHER_POLICY, price_fen=250, title="湖南逐时气象",
                                   source_legality_statement="气象站业务观测数据，依法取得")
                     for name in ("weather_city", "weather_city_b", "weather_city_c")]
            assert {c.state for c in comps} == {"in_review"}

        queue = list(op.review_queue())
        assert [c.name for c in queue] == ["weather_city", "weather_city_b", "weather_city_c"]
        assert queue[0].scan["grade"] and queue[0].gate["passed"]
        rejected = op.reject(comps[2].id, "重复的元件")
        assert rejected.state == "rejected" and op.history(comps[2].id)[-1]["reason"] == "重复的元件"
        for comp in comps[:2]:
            assert op.approve(comp.id).state == "listed"

    with Client(url, buyer_token) as buyer:
        # one item per page: the client follows next_cursor to the end
        assert [c.name for c in buyer.components(page_size=1)] == ["weather_city", "weather_city_b"]
        with pytest.raises(ApiError) as refused:
            buyer.publish("x", asset="weather", policy=WEATHER_POLICY, price_fen=1)
        assert (refused.value.status, refused.value.code) == (403, "auth.role_required")

        contract = buyer.sign("weather_city", 1_000)
        answer = buyer.query(contract.id, "SELECT city, count(*) AS n FROM weather_city GROUP BY city")
        assert answer.columns == ["city", "n"] and all(n >= 30 for _, n in answer.rows)
        with pytest.raises(ApiError) as star:
            buyer.query(contract.id, "SELECT * FROM weather_city")
        assert star.value.code == "query.star"
        assert buyer.contract(contract.id).spent_fen == 250  # the refusal cost nothing
        assert [q["error_code"] for q in buyer.queries(contract.id)] == [None, "query.star"]
        cash = next(b for b in buyer.balances() if b.code == "cash")
        assert (cash.posted_fen, cash.held_fen) == (4_750, 750)
        proof = buyer.prove(answer.receipt["audit_seq"])
        assert proof["leaf_index"] == answer.receipt["audit_leaf_index"]

        # a narrower token, then revoked: it stops working at once
        narrow, secret = buyer.create_token("read-only", ["buyer"])
        assert Client(url, secret).me().token_roles == ["buyer"]
        buyer.revoke_token(narrow.id)
        with pytest.raises(ApiError) as gone:
            Client(url, secret).me()
        assert (gone.value.status, gone.value.code) == (401, "auth.bad_token")

    # the CLI in remote mode: no local data dir at all, the token decides who acts
    runner = CliRunner()
    empty_home = tmp_path / "no-data-dir"

    def remote(token: str, *args: str, code: int = 0):
        env = {"SUANSHU_URL": url, "SUANSHU_TOKEN": token, "SUANSHU_HOME": str(empty_home)}
        result = runner.invoke(app, [*args, "--format", "json"], env=env)
        assert result.exit_code == code, (args, result.output)
        return json.loads(result.stdout)

    assert {c["name"] for c in remote(buyer_token, "component", "list")} == {"weather_city", "weather_city_b"}
    signed = remote(buyer_token, "contract", "request", "insurer", "weather_city_b", "--budget", "5")
    assert signed["budget_fen"] == 500
    assert remote(buyer_token, "contract", "request", "meteo", "weather_city_b", "--budget", "5",
                  code=2)["error"]["code"] == "remote.wrong_org"
    answer = remote(buyer_token, "query", signed["id"], "SELECT city, count(*) AS n FROM weather_city_b GROUP BY 1")
    assert answer["receipt"]["price_fen"] == 250
    assert remote(buyer_token, "query", signed["id"], "SELECT * FROM weather_city_b",
                  code=3)["error"]["code"] == "query.star"
    assert remote(op_token, "ledger", "balances")["sum_posted_fen"] == 0
    assert remote(op_token, "audit", "verify")["ok"]
    assert remote(buyer_token, "audit", "verify", code=3)["error"]["code"] == "auth.role_required"
    assert not empty_home.exists()  # remote mode never opened a local exchange
