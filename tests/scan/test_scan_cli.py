"""`suanshu scan` formats and options, through the real CLI."""

from __future__ import annotations

import csv
import json

import pytest
from fixtures.scan_corpus import table
from typer.testing import CliRunner

from suanshu.cli.main import app


@pytest.fixture
def csv_file(tmp_path):
    cols, _ = table(200, seed=3)
    path = tmp_path / "客户.csv"
    with path.open("w", encoding="gb18030", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(cols))
        w.writerows(zip(*cols.values(), strict=True))
    return path


def run(*args):
    result = CliRunner().invoke(app, ["scan", *map(str, args)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_json_with_k_anonymity_and_sample(csv_file):
    report = json.loads(run(csv_file, "--k-anonymity", "created,amount"))
    assert report["rows"] == 200 and report["encoding"] == "gb18030" and not report["sampled"]
    assert report["k_anonymity"]["columns"] == ["created", "amount"] and report["k_anonymity"]["k"] >= 1
    sampled = json.loads(run(csv_file, "--sample", "50"))
    assert sampled["rows"] == 50 and sampled["sampled"]
    assert {c["name"]: c["pi"] for c in sampled["columns"]}["resident_id"] == "sensitive"


def test_table_and_html(csv_file, tmp_path):
    out = run(csv_file, "--format", "table")
    assert "resident_id" in out and "Quality" in out
    page = tmp_path / "r.html"
    run(csv_file, "--format", "html", "--output", page)
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "<svg" in html and "resident_id" in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # standalone: no CDN


def test_bad_k_anonymity_column_is_a_usage_error(csv_file):
    result = CliRunner().invoke(app, ["scan", str(csv_file), "--k-anonymity", "nope"])
    assert result.exit_code == 2


def test_a_full_bar_keeps_its_ratio_inside_the_chart():
    import re

    from suanshu.scan.html import _bars

    svg = _bars([("CN_MOBILE", 1.0), ("EMAIL", 0.5)])
    width = int(re.search(r'<svg [^>]*width="(\d+)"', svg).group(1))
    label = re.search(r'<text x="(\d+)"[^>]*>100\.0%</text>', svg)
    assert label and int(label.group(1)) + 6 * 7 <= width  # "100.0%": 6 glyphs of at most 7 px in 12 px type


def test_bad_options_and_outputs_are_usage_errors_with_a_code(csv_file, tmp_path):
    """Refused before the scan runs: exit 2 and, when JSON is asked for, a stable code (a bad option
    goes through the installed entry point, as a script runs it: Typer reports those before any command)."""
    import subprocess
    import sys

    def cli(*args):
        r = subprocess.run([sys.executable, "-c", "from suanshu.cli.main import main; main()", "scan", str(csv_file),
                            *args], capture_output=True, text=True, timeout=120)
        return r.returncode, json.loads(r.stdout)["error"]["code"] if r.stdout.startswith("{") else r.stdout

    for args in (["--sample", "0"], ["--sample", "abc"], ["--max-findings", "-1"]):
        assert cli(*args, "--format", "json") == (2, "cli.bad_usage"), args
    for output in (tmp_path, tmp_path / "no-such-dir" / "r.json"):
        assert cli("-o", str(output), "-f", "json") == (2, "scan.bad_output"), output
