"""The sandbox itself, reached with raw SQL (no guard): files, configuration, time."""

from __future__ import annotations

import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from suanshu.core.errors import Refused, UsageError
from suanshu.policy import Sandbox


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM glob('/*')",
    "ATTACH '/tmp/suanshu-sandbox-test.db' AS x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT * FROM read_parquet('https://example.com/x.parquet')",
])  # fmt: skip
def test_file_and_network_access_is_refused_even_raw(sandbox, sql):
    with pytest.raises(Refused) as info:
        sandbox.execute(sql)
    assert info.value.code == "query.execution_error"


def test_other_files_are_out_of_reach(tmp_path, sandbox):
    # a second Parquet file right next to the vault file is not in allowed_paths
    pq.write_table(pa.table({"secret": ["x"]}), tmp_path / "other.parquet")
    with pytest.raises(Refused, match="disabled by configuration"):
        sandbox.execute(f"SELECT * FROM read_parquet('{tmp_path / 'other.parquet'}')")
    with pytest.raises(Refused):
        sandbox.execute(f"SELECT * FROM read_parquet('{tmp_path}/*.parquet')")
    with pytest.raises(Refused):
        sandbox.execute(f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("sql", [
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "SET allowed_paths = ['/etc/passwd']",
    "SET allowed_directories = ['/']",
    "SET memory_limit = '100GB'",
    "SET threads = 64",
    "PRAGMA threads = 64",
    "SET autoload_known_extensions = true",
    "SET GLOBAL enable_external_access = true",
])  # fmt: skip
def test_configuration_is_locked(sandbox, sql):
    with pytest.raises(Refused, match="locked"):
        sandbox.execute(sql)
    settings = dict(sandbox.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('enable_external_access', 'lock_configuration', 'threads')").rows)  # fmt: skip
    assert settings == {"enable_external_access": "false", "lock_configuration": "true", "threads": "2"}


def test_timeout_interrupts_a_long_query(customers_file):
    # 10^18 rows: only the interrupt can end this query (the code says which path ended it)
    with Sandbox({"customers": customers_file}, timeout_s=0.5) as box:
        with pytest.raises(Refused) as info:
            box.execute("SELECT count(*) FROM range(1000000000) a, range(1000000000) b")
        assert info.value.code == "query.timeout"
        assert box.execute("SELECT 42").rows == [(42,)]  # the connection survives


def test_extensions_memory_threads_spill_and_progress_bar(customers_file):
    with Sandbox({"customers": customers_file}, memory_limit="64MB", temp_limit="32MB", threads=1) as box:
        settings = dict(box.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('autoload_known_extensions', "
            "'autoinstall_known_extensions', 'allow_community_extensions', 'python_enable_replacements', "
            "'enable_progress_bar', 'memory_limit', 'threads', 'temp_directory', 'max_temp_directory_size')").rows)
        spill = settings.pop("temp_directory")
        assert settings == {
            "autoload_known_extensions": "false", "autoinstall_known_extensions": "false",
            "allow_community_extensions": "false", "python_enable_replacements": "false",
            "enable_progress_bar": "false",  # DuckDB prints it on stdout, inside analyze's JSON
            "memory_limit": "61.0 MiB", "threads": "1", "max_temp_directory_size": "30.5 MiB",  # MB, shown in MiB
        }  # fmt: skip
        assert "suanshu-sandbox-" in spill and os.path.isdir(spill)  # private, not ./.tmp
        # a known extension is neither installed nor loaded on demand
        with pytest.raises(Refused, match="sqlite_scanner extension"):
            box.execute("SELECT * FROM sqlite_scan('x.db', 't')")
        with pytest.raises(Refused, match="Out of Memory"):
            box.execute("SELECT length(string_agg(range::VARCHAR, ',')) FROM range(20000000)")
    assert not os.path.exists(spill)  # removed with the sandbox


def test_vault_views_setup_hook_and_views(customers_file, customers_rows):
    def setup(con):
        con.create_function("ss_hmac", lambda s: "h:" + s[::-1], ["VARCHAR"], "VARCHAR")

    views = {"masked": 'SELECT city, ss_hmac(name) AS name FROM vault."customers"'}
    with Sandbox({"customers": customers_file}, setup=setup, views=views) as box:
        rows = box.execute("SELECT name FROM masked ORDER BY name LIMIT 1").rows
        assert rows[0][0].startswith("h:")
        assert box.execute("SELECT count(*) FROM customers").rows == [(len(customers_rows),)]  # main, then vault
        result = box.execute("SELECT city FROM vault.customers", max_rows=3)
        assert result.columns == ["city"] and len(result.rows) == 3


def test_runtime_errors_can_be_redacted(sandbox):
    sql = "SELECT CAST(name AS INTEGER) FROM customers"
    with pytest.raises(Refused, match="secret-name"):
        sandbox.execute(sql)
    with pytest.raises(Refused) as info:
        sandbox.execute(sql, redact=True)
    assert info.value.code == "query.execution_error" and "secret" not in info.value.message
    with pytest.raises(Refused, match="nope"):  # planning errors are about the SQL, kept
        sandbox.execute("SELECT nope FROM customers", redact=True)


def test_missing_file_and_closed_sandbox(tmp_path, customers_file):
    with pytest.raises(UsageError) as info:
        Sandbox({"x": tmp_path / "absent.parquet"})
    assert info.value.code == "sandbox.missing_file"
    box = Sandbox({"customers": customers_file})
    box.close()
    with pytest.raises(Refused):
        box.execute("SELECT 1")


def test_add_table_exposes_an_arrow_table_but_never_shadows_one(sandbox):
    sandbox.add_table("crm", pa.table({"key": ["a", "b"], "tier": ["gold", "new"]}))
    assert sandbox.execute("SELECT tier FROM crm ORDER BY key").rows == [("gold",), ("new",)]
    for name in ("customers", "CUSTOMERS", "crm"):  # the provider's view, in any case, or a second crm
        with pytest.raises(UsageError) as info:
            sandbox.add_table(name, pa.table({"x": [1]}))
        assert info.value.code == "sandbox.name_taken"
    with pytest.raises(UsageError) as info:
        sandbox.add_table("vault.customers", pa.table({"x": [1]}))
    assert info.value.code == "sandbox.invalid_name"
    assert sandbox.execute("SELECT count(*) FROM customers").rows == [(456,)]  # still the provider's
    with pytest.raises(Refused, match="locked"):  # and the configuration is still locked
        sandbox.execute("SET enable_external_access = true")


def test_arrow_batches_stream_the_result_in_order(sandbox):
    whole = sandbox.execute_arrow("SELECT * FROM main.customers ORDER BY 1")
    batches = list(sandbox.arrow_batches("SELECT * FROM main.customers ORDER BY 1", 7))
    assert [b.num_rows for b in batches[:-1]] == [7] * (len(batches) - 1) and 1 <= batches[-1].num_rows <= 7
    assert pa.Table.from_batches(batches).equals(whole)
    assert list(sandbox.arrow_batches("SELECT * FROM main.customers WHERE false", 7)) == []


def test_arrow_batches_are_computed_as_they_are_asked_for(sandbox):
    # a row far down fails: the first batches arrive before the query has got there
    sql = "SELECT CASE WHEN i < 3000000 THEN i ELSE error('too far') END AS i FROM range(4000000) t(i)"
    batches = sandbox.arrow_batches(sql, 1024)
    assert next(batches).column("i").to_pylist() == list(range(1024))
    with pytest.raises(Refused) as info:
        list(batches)
    assert info.value.code == "query.execution_error" and "too far" in info.value.message


def test_a_stream_closed_early_frees_the_sandbox(sandbox):
    batches = sandbox.arrow_batches("SELECT * FROM range(100000) t(i)", 1000)
    assert next(batches).num_rows == 1000
    with pytest.raises(Refused):  # the open result holds the connection
        sandbox.execute("SELECT 1")
    batches.close()
    assert sandbox.execute("SELECT 42").rows == [(42,)]


def test_arrow_batches_time_each_batch_not_the_whole_stream(customers_file):
    with Sandbox({"customers": customers_file}, timeout_s=0.5) as box:
        seen = 0
        for batch in box.arrow_batches("SELECT * FROM range(4000) t(i)", 1000):
            time.sleep(0.2)  # the reader's own pace: 0.8 s in all, more than the limit
            seen += batch.num_rows
        assert seen == 4000
        with pytest.raises(Refused) as info:
            list(box.arrow_batches("SELECT count(*) FROM range(1000000000) a, range(1000000000) b", 10))
        assert info.value.code == "query.timeout"
