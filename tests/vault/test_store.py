"""Vaults on object storage (SUANSHU_VAULT_URL): the trade loop over a real S3 server (moto's, on
loopback), two hosts sharing one vault and one database, hash checks on what is downloaded or
cached, a shared-mount vault, and the errors of a bad URL and of a store that cannot be reached."""

from __future__ import annotations

import socket
import stat
import uuid
from dataclasses import dataclass, replace

import pytest
from compute.conftest import build_job_world, pool_spec
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from suanshu.api.app import create_app
from suanshu.cli.main import app as cli_app
from suanshu.core.errors import SuanshuError, UsageError
from suanshu.core.settings import load_settings
from suanshu.market import components, contracts, jobs, orgs, pools, previews, queries
from suanshu.market.exchange import Exchange
from suanshu.market.models import QueryRun
from suanshu.vault.models import Asset
from suanshu.vault.store import CACHE_DIR, open_store, sha256_file

BUCKET = "suanshu-vaults"
AGGREGATE = {"mode": "aggregate", "min_group_size": 10,
             "columns": {"city": "dimension", "fee": "aggregate", "mobile": "hidden"}}
BY_CITY = "SELECT city, count(*) AS n FROM {table} GROUP BY city ORDER BY city"
ANSWER = [["Changsha", 60], ["Xiangtan", 45], ["Zhuzhou", 40]]  # compute.conftest.CITIES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3:
    port: int
    fs: object  # pyarrow.fs.S3FileSystem on the server, for the tests' own look at the objects

    def url(self, prefix: str, port: int | None = None) -> str:
        return (f"s3://{BUCKET}/{prefix}?endpoint_override=127.0.0.1:{port or self.port}"
                "&scheme=http&region=us-east-1")


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API (moto's server) on a free loopback port, with one bucket, for the session."""
    server_module = pytest.importorskip("moto.server", reason="moto[server] is in the dev group")
    from pyarrow import fs

    with pytest.MonkeyPatch.context() as env:
        for name, value in {"AWS_ACCESS_KEY_ID": "suanshu-test", "AWS_SECRET_ACCESS_KEY": "suanshu-test",
                            "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1",
                            "no_proxy": "127.0.0.1"}.items():
            env.setenv(name, value)
        port = _free_port()
        server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            s3 = fs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                                 allow_bucket_creation=True)
            s3.create_dir(BUCKET)
            yield S3(port, s3)
        finally:
            server.stop()


@pytest.fixture
def prefix(s3_server, monkeypatch) -> str:
    """A vault of its own for the test (a fresh prefix in the bucket), named by SUANSHU_VAULT_URL."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("SUANSHU_VAULT_URL", s3_server.url(name))
    return name


def open_host(tmp_path, name: str) -> Exchange:
    """An exchange with a data dir of its own (a host) on the database all hosts share."""
    return Exchange.open(load_settings(tmp_path / name, f"sqlite:///{tmp_path / 'shared.db'}"))


@pytest.fixture
def hosts(tmp_path):
    opened: list[Exchange] = []

    def host(name: str) -> Exchange:
        opened.append(open_host(tmp_path, name))
        return opened[-1]

    yield host
    for ex in opened:
        ex.close()


def the_asset(ex: Exchange) -> Asset:
    with ex.db.transaction() as s:
        return s.scalar(select(Asset).where(Asset.name == "subscribers"))


def query(ex: Exchange, contract_id: str, table: str = "fees") -> list[list]:
    return queries.run(ex, orgs.local_actor(ex, "bank"), contract_id, BY_CITY.format(table=table)).rows


def test_the_trade_loop_over_an_s3_vault(s3_server, prefix, hosts, tmp_path):
    ex = hosts("a")
    # ingest (CSV -> Parquet put into the store), scan, publish (the gate reads the vault), contract
    world = build_job_world(ex, tmp_path)
    asset = the_asset(ex)
    [info] = s3_server.fs.get_file_info([f"{BUCKET}/{prefix}/{asset.path}"])
    assert info.size == asset.bytes  # the vault's bytes are in the object store ...
    assert not (ex.settings.home / "vaults").exists()  # ... and not in the data dir
    cache = ex.settings.home / CACHE_DIR
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert sha256_file(cache / asset.path) == asset.content_sha256  # the ingesting host keeps a copy
    assert [p.name for p in (cache / ".staging").iterdir()] == []  # no staging left behind

    # a job over the governed view, streamed from the vault
    bank, telco = world.actor("bank"), world.actor("telco")
    pools.register(ex, world.actor("hpc"), pool_spec("cpu-local"))
    program = ("import os, pyarrow.parquet as pq\n"
               "t = pq.read_table(os.path.join(os.environ['SUANSHU_DATA'], 'fees.parquet'))\n"
               "print('rows', t.num_rows)\n")
    job = jobs.run(ex, jobs.submit(ex, bank, world.contract_id, program, {"cpu": 1, "memory_gb": 1,
                                                                          "hours": 0.05}).id)
    assert job.state == "succeeded", job.error_message
    assert "rows 145" in jobs.logs(ex, bank, job.id)

    # an aggregate component over the same asset, a contract and a governed query
    components.publish(ex, telco, components.ComponentSpec(
        name="fees_by_city", asset="subscribers", sql=None, price_fen=100, desensitize={},
        policy=AGGREGATE))
    contract = contracts.request(ex, bank, "fees_by_city", 1000, purpose="risk")
    assert query(ex, contract.id, "fees_by_city") == ANSWER
    # the owner's masked findings are read from the vault file too
    found = previews.masked_findings(ex, telco, "subscribers")
    assert found and all("*" in f["sample"] for f in found)


def test_a_second_host_answers_queries_on_what_the_first_ingested(s3_server, prefix, hosts, tmp_path):
    first = hosts("a")
    world = build_job_world(first, tmp_path, policy=AGGREGATE)
    second = hosts("b")  # another data dir (host), the same database and vault
    asset = the_asset(second)
    assert not (second.settings.home / CACHE_DIR).exists()
    assert query(second, world.contract_id) == ANSWER
    assert sha256_file(second.settings.home / CACHE_DIR / asset.path) == asset.content_sha256
    assert query(first, world.contract_id) == ANSWER


def test_a_tampered_object_or_cache_copy_is_refused(s3_server, prefix, hosts, tmp_path):
    world = build_job_world(hosts("a"), tmp_path, policy=AGGREGATE)
    second = hosts("b")
    asset = the_asset(second)
    key = f"{BUCKET}/{prefix}/{asset.path}"
    with s3_server.fs.open_input_stream(key) as src:
        good = src.read()
    with s3_server.fs.open_output_stream(key) as out:
        out.write(good[:-100] + bytes(100))  # same length, other bytes

    cached = second.settings.home / CACHE_DIR / asset.path
    with pytest.raises(SuanshuError) as err:
        query(second, world.contract_id)
    assert err.value.code == "vault.corrupt" and asset.id in err.value.message
    assert not cached.exists() and list(cached.parent.iterdir()) == []  # neither the file nor a temp one
    with second.db.transaction() as s:  # the exchange's failure, not a refusal on the buyer's record
        assert s.scalars(select(QueryRun.status)).all() == []

    with s3_server.fs.open_output_stream(key) as out:  # repaired: read again, it is fetched
        out.write(good)
    assert query(second, world.contract_id) == ANSWER

    cached.write_bytes(cached.read_bytes() + b"\0")  # this host's copy changed under it
    with pytest.raises(SuanshuError) as err:
        query(second, world.contract_id)
    assert err.value.code == "vault.corrupt" and not cached.exists()
    assert query(second, world.contract_id) == ANSWER  # fetched from the store again
    assert sha256_file(cached) == asset.content_sha256


def test_the_cache_is_filled_again_after_it_is_deleted(s3_server, prefix, hosts, tmp_path):
    ex = hosts("a")
    world = build_job_world(ex, tmp_path, policy=AGGREGATE)
    asset = the_asset(ex)
    cached = ex.settings.home / CACHE_DIR / asset.path
    assert query(ex, world.contract_id) == ANSWER
    cached.unlink()
    assert query(ex, world.contract_id) == ANSWER
    assert sha256_file(cached) == asset.content_sha256


def test_a_vault_on_a_shared_mount(tmp_path, hosts, monkeypatch):
    shared = tmp_path / "mnt" / "vaults"
    monkeypatch.setenv("SUANSHU_VAULT_URL", shared.as_uri())
    world = build_job_world(hosts("a"), tmp_path, policy=AGGREGATE)
    second = hosts("b")
    asset = the_asset(second)
    assert sha256_file(shared / asset.path) == asset.content_sha256
    assert query(second, world.contract_id) == ANSWER
    for host in ("a", "b"):  # read in place: no copy in either data dir
        assert not (tmp_path / host / "vaults").exists() and not (tmp_path / host / CACHE_DIR).exists()


@pytest.mark.parametrize("url", [
    "ftp://host/vaults", "s3://", "s3:///prefix?region=x", "s3://bucket/prefix",
    "s3://key:secret@bucket?region=x", "s3://bucket?region=x&region=y", "s3://bucket?endpoint_override=",
    "s3://bucket?endpoint_override=h:9000&scheme=ftp", "file://host/vaults", "file:relative/vaults",
    "vaults",
])
def test_a_malformed_vault_url_is_refused_at_start(url, monkeypatch, tmp_path):
    monkeypatch.setenv("SUANSHU_VAULT_URL", url)
    with pytest.raises(UsageError) as err:
        load_settings(tmp_path / "home")
    assert err.value.code == "settings.bad_vault_url"


def test_a_vault_url_pyarrow_refuses_stops_the_exchange_before_it_makes_state(monkeypatch, tmp_path):
    monkeypatch.setenv("SUANSHU_VAULT_URL", "s3://bucket/p?region=us-east-1&no_such_option=1")
    with pytest.raises(UsageError) as err:
        Exchange.open(load_settings(tmp_path / "home"))
    assert err.value.code == "settings.bad_vault_url" and "no_such_option" in err.value.message
    assert not (tmp_path / "home").exists()
    monkeypatch.setenv("SUANSHU_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli_app, ["init", "--format", "json"])
    assert result.exit_code == 2 and "settings.bad_vault_url" in result.output


def test_an_unreachable_store_is_503_and_a_retry_with_the_key_runs_again(s3_server, prefix, hosts, tmp_path,
                                                                        monkeypatch):
    world = build_job_world(hosts("a"), tmp_path, policy=AGGREGATE)
    monkeypatch.setenv("SUANSHU_VAULT_URL", s3_server.url(prefix, port=_free_port()))  # nothing listens
    down = hosts("b")
    token = orgs.issue_token(down, "bank")
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "q-1"}
    sql = {"sql": BY_CITY.format(table="fees")}
    with TestClient(create_app(down)) as client:
        r = client.post(f"/api/v1/contracts/{world.contract_id}/queries", json=sql, headers=headers)
        assert r.status_code == 503 and r.json()["error"]["code"] == "vault.unavailable", r.text
        assert f"s3://{BUCKET}/{prefix} cannot be reached" in r.json()["error"]["message"]
        with down.db.transaction() as s:  # not a refusal on the buyer's record
            assert s.scalars(select(QueryRun.status)).all() == []
        down._vault = open_store(replace(down.settings, vault_url=s3_server.url(prefix)))  # the store is back
        r = client.post(f"/api/v1/contracts/{world.contract_id}/queries", json=sql, headers=headers)
        assert r.status_code == 200 and r.json()["rows"] == ANSWER, r.text  # the key was not spent on the 503
