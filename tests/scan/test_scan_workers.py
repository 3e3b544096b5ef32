"""Scanning batches in worker processes (``scan/pool.py``): the report is the one a single
process gives, whatever the options, and a worker that dies is a clear error."""

from __future__ import annotations

import csv
import dataclasses
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures import scan_workers
from fixtures.scan_corpus import table
from typer.testing import CliRunner

from suanshu.cli.main import app
from suanshu.core.errors import SuanshuError
from suanshu.scan import pool, quality, report
from suanshu.scan.report import scan_parquet, scan_table


@pytest.fixture
def pools(monkeypatch) -> list[int]:
    """The worker count of every pool a scan starts."""
    started: list[int] = []
    ahead = pool.ahead
    monkeypatch.setattr(pool, "ahead", lambda fn, args, workers: started.append(workers) or ahead(fn, args, workers))
    return started


def write_csv(data: pa.Table, path) -> None:
    with path.open("w", encoding="gb18030", newline="") as f:
        w = csv.writer(f)
        w.writerow(data.column_names)
        w.writerows(zip(*data.to_pydict().values(), strict=True))


@pytest.fixture(scope="module")
def corpus() -> pa.Table:
    cols, _ = table(1200, seed=11, with_business=True)
    return pa.table(cols)


def test_workers_are_other_processes():
    pids = {pool.result(f) for f in pool.ahead(scan_workers.pid, range(6), 2)}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


@pytest.mark.parametrize("options", [
    {},
    {"max_findings": 500},
    {"sample": 700},  # stops after four batches: the rest are never scanned
    {"findings_as": "arrow"},
])
def test_workers_give_the_report_one_process_gives(corpus, monkeypatch, options):
    monkeypatch.setattr(quality, "DISTINCT_CAP", 300)  # dropped while batches are out
    batches = corpus.to_batches(max_chunksize=200)
    one = scan_table(batches, source="t", encoding=None, workers=1, **options)
    two = scan_table(batches, source="t", encoding=None, workers=2, **options)
    if options.get("findings_as") == "arrow":
        assert two.pop("findings").equals(one.pop("findings"))
    assert two == one
    assert one["findings_total"] > 1000 and any(not c["quality"]["distinct_exact"] for c in one["columns"])


def test_a_table_of_several_batches_uses_the_cores_when_asked(corpus, monkeypatch, pools):
    monkeypatch.setattr(report, "BATCH_ROWS", 400)
    auto = scan_table(corpus, source="t", encoding=None, workers=None)
    small = scan_table(corpus.slice(0, 400), source="t", encoding=None, workers=None)
    assert pools == ([pool.usable_cores()] if pool.usable_cores() > 1 else [])
    assert auto == scan_table(corpus, source="t", encoding=None) and small["rows"] == 400


def test_a_stream_of_several_batches_uses_the_cores_when_asked(corpus, pools):
    """Batches from a reader (the listing gate's) have no known count: two or more start the
    workers, a single one is scanned in-process."""
    batches = corpus.to_batches(max_chunksize=500)
    auto = scan_table(iter(batches), source="t", encoding=None, workers=None)
    single = scan_table(iter(batches[:1]), source="t", encoding=None, workers=None)
    assert pools == ([pool.usable_cores()] if pool.usable_cores() > 1 else [])
    assert auto == scan_table(batches, source="t", encoding=None) and single["rows"] == 500


@pytest.mark.parametrize(("sample", "batches"), [
    (None, [250, 150] * 3),  # three row groups of 400 rows: each read by one worker, as 250 + 150
    (700, [250, 150, 250, 50]),
])
def test_scan_parquet_workers_read_their_row_groups_and_report_the_same(
        corpus, tmp_path, monkeypatch, sample, batches):
    monkeypatch.setattr(report, "BATCH_ROWS", 250)
    monkeypatch.setattr(quality, "DISTINCT_CAP", 300)
    path = tmp_path / "t.parquet"
    pq.write_table(corpus, path, row_group_size=400)
    seen: dict[int | None, list[tuple[int, int]]] = {None: [], 1: []}
    auto, one = (scan_parquet(path, source="t", encoding=None, sample=sample, workers=w,
                              progress=lambda d, t, w=w: seen[w].append((d, t))) for w in (None, 1))
    assert auto == one and auto["findings_total"] > 500
    total = sum(batches)
    assert seen[None] == seen[1] == [(sum(batches[:i + 1]), total) for i in range(len(batches))]


@pytest.mark.parametrize(("sample", "batches"), [(None, [250] * 4 + [200]), (700, [250, 250, 200])])
def test_a_file_of_one_row_group_is_shared_out_by_batch(corpus, tmp_path, monkeypatch, pools, sample, batches):
    """Fewer runs than workers: each worker reads the row group and scans batches of its own,
    starting at the rows one process's batches start at."""
    monkeypatch.setattr(report, "BATCH_ROWS", 250)
    path = tmp_path / "t.parquet"
    pq.write_table(corpus, path, row_group_size=len(corpus))
    seen: dict[int | None, list[tuple[int, int]]] = {None: [], 1: []}
    auto, one = (scan_parquet(path, source="t", encoding=None, sample=sample, workers=w,
                              progress=lambda d, t, w=w: seen[w].append((d, t))) for w in (None, 1))
    assert pools == ([pool.usable_cores()] if pool.usable_cores() > 1 else [])
    assert auto == one and auto["findings_total"] > 500
    assert seen[None] == seen[1] == [(sum(batches[:i + 1]), sum(batches)) for i in range(len(batches))]


def test_small_row_groups_are_read_in_runs_of_a_batch(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "BATCH_ROWS", 250)
    path = tmp_path / "t.parquet"
    pq.write_table(corpus, path, row_group_size=100)
    with pq.ParquetFile(path) as pf:
        assert report._runs(pf, 1200) == [([0, 1, 2], 300), ([3, 4, 5], 300), ([6, 7, 8], 300), ([9, 10, 11], 300)]
        assert report._runs(pf, 450) == [([0, 1, 2], 300), ([3, 4, 5], 150)]
    assert scan_parquet(path, source="t", encoding=None) == scan_parquet(path, source="t", encoding=None, workers=1)


def test_a_worker_that_dies_is_a_clear_error():
    with pytest.raises(SuanshuError) as err:
        for future in pool.ahead(scan_workers.die, [None], 2):
            pool.result(future)
    assert err.value.code == "scan.worker_failed" and "--workers 1" in err.value.message


def test_cli_workers(tmp_path, monkeypatch, corpus):
    monkeypatch.setattr(report, "BATCH_ROWS", 300)
    path = tmp_path / "客户.csv"
    write_csv(corpus, path)
    runner = CliRunner()
    results = [runner.invoke(app, ["scan", str(path), "--workers", n]) for n in ("1", "2")]
    assert [r.exit_code for r in results] == [0, 0], [r.output for r in results]
    assert json.loads(results[1].stdout) == json.loads(results[0].stdout)
    bad = runner.invoke(app, ["scan", str(path), "--workers", "0"])
    assert bad.exit_code == 2


def test_vault_ingest_scans_on_the_cores(settings, tmp_path, monkeypatch, pools):
    """A provider's upload of several row groups is scanned by workers inside the exchange, the
    stored report is the one a single process gives, and an operator's cap of one worker keeps
    uploads in-process."""
    from suanshu.market import assets, orgs
    from suanshu.market.exchange import Exchange
    from suanshu.vault import ingest

    monkeypatch.setattr(report, "BATCH_ROWS", 1000)
    monkeypatch.setattr(ingest, "ROW_GROUP_ROWS", 2048)  # DuckDB's least: three row groups
    corpus = pa.table(table(4500, seed=12)[0])
    path = tmp_path / "客户.csv"
    write_csv(corpus, path)
    ex = Exchange.open(settings)
    try:
        orgs.ensure_operator(ex)
        orgs.create_org(ex, None, "shop", ["provider"], region="cn-hunan")
        asset, scan = assets.add_asset(ex, orgs.local_actor(ex, "shop"), path, name="customers")
        capped = Exchange.open(dataclasses.replace(settings, scan_workers=1))
        try:
            assets.add_asset(capped, orgs.local_actor(capped, "shop"), path, name="customers_again")
        finally:
            capped.close()
        assert pools == ([pool.usable_cores()] if pool.usable_cores() > 1 else [])  # the capped upload: none
        alone = scan_parquet(ex.vault.local(asset.path, asset.content_sha256), source=path.name,
                             encoding=asset.encoding, max_findings=assets.STORED_FINDINGS, workers=1)
    finally:
        ex.close()
    assert scan.report["columns"] == alone["columns"] and scan.findings_total == alone["findings_total"] > 1000
    assert scan.report["findings"] == alone["findings"][:assets.STORED_FINDINGS]


def test_the_listing_gate_streams_the_component_to_the_workers(settings, tmp_path, monkeypatch, pools):
    """The gate scans what a buyer would see, a stream of sandbox batches (lazy: see
    tests/policy/test_policy_sandbox.py), on the cores; its verdict is the one a single process
    gives (an operator's cap of one)."""
    from suanshu.core.errors import Refused
    from suanshu.market import assets, components, orgs
    from suanshu.market.exchange import Exchange

    monkeypatch.setattr(report, "BATCH_ROWS", 1000)
    path = tmp_path / "客户.csv"
    write_csv(pa.table(table(4500, seed=12)[0]), path)
    spec = components.ComponentSpec(name="customers_clear", asset="customers", sql=None, price_fen=100, desensitize=None, policy={
        "mode": "extract", "columns": {"name": "dimension", "mobile": "dimension", "remark": "dimension"}})

    def refusal(ex: Exchange) -> list[dict]:
        with pytest.raises(Refused) as refused:
            components.publish(ex, orgs.local_actor(ex, "shop"), spec)
        return refused.value.details["problems"]

    ex = Exchange.open(settings)
    capped = Exchange.open(dataclasses.replace(settings, scan_workers=1))
    try:
        orgs.ensure_operator(ex)
        orgs.create_org(ex, None, "shop", ["provider"], region="cn-hunan")
        assets.add_asset(capped, orgs.local_actor(capped, "shop"), path, name="customers")
        auto = refusal(ex)
        assert pools == ([pool.usable_cores()] if pool.usable_cores() > 1 else [])
        started = list(pools)
        assert refusal(capped) == auto and pools == started  # the capped gate: in-process
    finally:
        capped.close()
        ex.close()
    assert {p["column"] for p in auto} == {"name", "mobile", "remark"}


def test_operators_cap_the_scan_workers(monkeypatch, tmp_path):
    from suanshu.core.errors import UsageError
    from suanshu.core.settings import load_settings

    monkeypatch.setenv("SUANSHU_SCAN_WORKERS", "1")
    assert load_settings(tmp_path).scan_workers == 1
    monkeypatch.delenv("SUANSHU_SCAN_WORKERS")
    assert load_settings(tmp_path).scan_workers is None
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("SUANSHU_SCAN_WORKERS", bad)
        with pytest.raises(UsageError) as err:
            load_settings(tmp_path)
        assert err.value.code == "settings.bad_value" and "SUANSHU_SCAN_WORKERS" in err.value.message
