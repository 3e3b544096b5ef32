"""Bad input: a clear error with a stable code and exit status, and nothing left behind."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from suanshu.cli.main import app


@pytest.fixture
def env(settings, database_url):
    return {"SUANSHU_HOME": str(settings.home), "SUANSHU_DATABASE_URL": database_url}


def invoke(env, *args):
    result = CliRunner().invoke(app, [str(a) for a in args] + ["--format", "json"], env=env)
    return result.exit_code, (json.loads(result.stdout) if result.stdout.strip() else None)


def _bad_files(d):
    files = {
        "vault.empty_file": b"",
        "vault.ragged_rows": "a,b\n1,2\n3,4,5\n".encode(),
        "vault.binary_file": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "vault.unknown_encoding": "名字,城市\n".encode("utf-16-le"),
        "vault.duplicate_columns": "城市,金额,城市\n长沙,1,x\n".encode(),
    }
    out = {}
    for code, data in files.items():
        path = d / f"{code.split('.')[1]}.csv"
        path.write_bytes(data)
        out[code] = path
    return out


def test_bad_files_leave_nothing(env, settings, tmp_path):
    assert invoke(env, "init")[0] == 0
    assert invoke(env, "org", "create", "meteo", "--role", "provider")[0] == 0
    before = invoke(env, "audit", "log", "--limit", "1000")[1]
    for code, path in _bad_files(tmp_path).items():
        status, body = invoke(env, "vault", "add", "meteo", path)
        assert (status, body["error"]["code"]) == (2, code), path
    assert invoke(env, "vault", "list", "meteo")[1] == []
    vaults = settings.home / "vaults"
    assert not vaults.exists() or [p for p in vaults.rglob("*") if p.is_file()] == []
    assert invoke(env, "audit", "log", "--limit", "1000")[1] == before


def test_usage_and_refusal_codes(env, tmp_path):
    invoke(env, "init")
    assert invoke(env, "vault", "add", "nobody", tmp_path / "x.csv")[0] == 3
    assert invoke(env, "ledger", "deposit", "nobody", "10")[1]["error"]["code"] == "org.not_found"
    invoke(env, "org", "create", "buyer", "--role", "buyer")
    assert invoke(env, "ledger", "deposit", "buyer", "12.345")[1]["error"]["code"] == "money.invalid"
    assert invoke(env, "contract", "request", "buyer", "nothing", "--budget", "1")[1]["error"]["code"] == \
        "component.not_found"
    status, body = invoke(env, "component", "publish", "buyer", "--asset", "a", "--name", "c",
                          "--policy", "{not json", "--price", "1")
    assert (status, body["error"]["code"]) == (2, "policy.bad_json")
