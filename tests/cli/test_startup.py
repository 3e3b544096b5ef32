"""The CLI starts light: importing its entry module loads none of the product's heavy libraries.

Every `suanshu` run (``--help`` included) imports ``suanshu.cli.main`` and builds the whole command
tree, so the market services, the database and the query engine are imported inside the commands
that use them (cli/main.py). A module-level import of any of them slips seconds back into start-up;
these tests name the offender instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("sqlalchemy", "alembic", "duckdb", "sqlglot", "pyarrow", "polars", "pandas", "ray", "numpy",
         "fastapi", "uvicorn", "httpx", "yaml", "ortools")
# What the entry module may load from the product: the CLI itself and three small stdlib-only helpers.
LIGHT_SUANSHU = {"suanshu", "suanshu.cli", "suanshu.core", "suanshu.core.clock", "suanshu.core.errors",
                 "suanshu.core.money"}

PROBE = """
import json, sys
{setup}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after(setup: str, **env_vars: str) -> set[str]:
    """The module names a fresh interpreter holds after running ``setup``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUANSHU_")} | env_vars
    out = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)], capture_output=True, text=True,
                         env=env, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def heavy(modules: set[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


def product(modules: set[str]) -> list[str]:
    return sorted(m for m in modules
                  if m.startswith("suanshu") and not m.startswith("suanshu.cli.") and m not in LIGHT_SUANSHU)


def assert_light(modules: set[str]) -> None:
    found = heavy(modules)
    assert found == [], f"start-up imports {found}: import them inside the commands that use them"
    found = product(modules)
    assert found == [], f"start-up imports {found}: import them inside the commands that use them"


def test_importing_the_entry_module_loads_nothing_heavy():
    modules = loaded_after("import suanshu.cli.main")
    assert "suanshu.cli.main" in modules
    assert_light(modules)


def test_help_of_every_group_loads_nothing_heavy():
    # Render --help of the app and of each group, in one process, as `suanshu … --help` would.
    setup = """
import typer.main
from typer.testing import CliRunner
from suanshu.cli.main import app
groups = sorted(n for n, c in typer.main.get_command(app).commands.items() if hasattr(c, "commands"))
runner = CliRunner()
for args in [["--help"], *[[g, "--help"] for g in groups]]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Usage" in result.output, (args, result.output)
assert len(groups) >= 10, groups
"""
    assert_light(loaded_after(setup))


def test_a_command_imports_what_it_uses_when_it_runs(tmp_path):
    # The probe sees heavy imports when there are some: a command that opens the exchange loads them.
    setup = """
from typer.testing import CliRunner
from suanshu.cli.main import app
assert CliRunner().invoke(app, ["init"]).exit_code == 0
result = CliRunner().invoke(app, ["org", "list", "--format", "json"])
assert result.exit_code == 0 and '"operator"' in result.output, result.output
"""
    modules = loaded_after(setup, SUANSHU_HOME=str(tmp_path / "home"))
    loaded = {m.split(".")[0] for m in modules}
    assert {"sqlalchemy", "alembic"} <= loaded
    assert "suanshu.market.orgs" in modules
    # ... and only what it uses: no query runs, so neither the query engine nor its sandbox pool
    assert loaded & {"duckdb", "sqlglot", "pyarrow"} == set()
    assert "suanshu.policy.sandbox" not in modules
