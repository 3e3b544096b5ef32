"""scan_table / scan_path: the DESIGN §5 JSON contract."""

from __future__ import annotations

import datetime as dt
import json
import random

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from suanshu.core.errors import UsageError
from suanshu.scan import validators as v
from suanshu.scan.report import scan_parquet, scan_path, scan_table

AREAS = ["110105", "310104", "440305", "510107"]
SEGMENTS = ["139", "138", "186", "177", "150", "199"]


def fake_people(n: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    people = []
    for i in range(n):
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
        first17 = f"{rng.choice(AREAS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
        people.append({
            "姓名": rng.choice("张王李赵刘陈") + rng.choice(["伟", "芳", "娜", "敏"]),
            "身份证号": first17 + v.resident_id_check_char(first17),
            "手机": rng.choice(SEGMENTS) + f"{rng.randrange(10**8):08d}",
            "城市": rng.choice(["北京", "上海", "深圳"]),
            "金额": f"{rng.randrange(100000) / 100:.2f}",
            "备注": f"订单{rng.randrange(10**12):012d}" if i % 2 else "",
        })
    return people


def assert_contract(report: dict) -> None:
    assert list(report)[:8] == ["source", "encoding", "rows", "grade", "columns", "findings",
                                "findings_total", "findings_truncated"]  # DESIGN §5 keys first
    assert isinstance(report["source"], str)
    assert report["encoding"] is None or isinstance(report["encoding"], str)
    assert isinstance(report["rows"], int)
    assert report["grade"] in {"general-1", "general-2", "general-3", "general-4"}
    for col in report["columns"]:
        assert {"name", "types", "pi", "grade", "evidence"} <= set(col)
        assert col["pi"] in {"none", "personal", "sensitive"}
        for t in col["types"]:
            assert set(t) == {"type", "cells", "ratio"}
            assert isinstance(t["cells"], int) and 0 < t["ratio"] <= 1
    for f in report["findings"]:
        assert set(f) == {"row", "column", "type", "start", "end"}
        assert 0 <= f["row"] < report["rows"] and 0 <= f["start"] < f["end"]
    assert isinstance(report["findings_total"], int)
    assert isinstance(report["findings_truncated"], bool)
    json.dumps(report, ensure_ascii=False)  # serialisable as is


def test_scan_table_contract_offsets_and_ratios():
    table = pa.table({
        "note": ["call 13912345678 or 13812345678", None, "no pi here", "邮箱a@b.cn"],
        "n": pa.array([1, 2, 3, 4], pa.int64()),
        "rid": ["11010519491231002X", "", None, "bad 110105194912310021"],
    })
    r = scan_table(table, source="t", encoding=None)
    assert_contract(r)
    assert (r["source"], r["rows"], r["grade"]) == ("t", 4, "general-4")
    assert r["findings"] == [  # reading order: row, then column, then offset
        {"row": 0, "column": "note", "type": "CN_MOBILE", "start": 5, "end": 16},
        {"row": 0, "column": "note", "type": "CN_MOBILE", "start": 20, "end": 31},
        {"row": 0, "column": "rid", "type": "CN_RESIDENT_ID", "start": 0, "end": 18},
        {"row": 3, "column": "note", "type": "EMAIL", "start": 2, "end": 8},
    ]
    note, n, rid = r["columns"]
    assert note["types"] == [{"type": "CN_MOBILE", "cells": 1, "ratio": round(1 / 3, 4)},
                             {"type": "EMAIL", "cells": 1, "ratio": round(1 / 3, 4)}]
    assert (note["pi"], note["grade"]) == ("personal", "general-3")
    assert (n["types"], n["pi"], n["grade"]) == ([], "none", "general-2")
    assert rid["types"] == [{"type": "CN_RESIDENT_ID", "cells": 1, "ratio": round(1 / 3, 4)}]
    assert rid["pi"] == "sensitive"


def test_numeric_columns_are_scanned_as_text():
    table = pa.table({"phone": pa.array([13912345678, 42], pa.int64())})
    r = scan_table(table, source="t", encoding=None)
    assert r["findings"] == [{"row": 0, "column": "phone", "type": "CN_MOBILE", "start": 0, "end": 11}]


def test_batches_stream_with_global_row_numbers_and_truncation():
    schema = pa.schema([("m", pa.string())])
    batches = (pa.record_batch([pa.array(["x", "13912345678", None])], schema=schema) for _ in range(3))
    r = scan_table(batches, source="s", encoding="utf-8", max_findings=2)
    assert r["rows"] == 9
    assert [f["row"] for f in r["findings"]] == [1, 4]
    assert (r["findings_total"], r["findings_truncated"]) == (3, True)
    assert r["columns"][0]["types"] == [{"type": "CN_MOBILE", "cells": 3, "ratio": 0.5}]


def test_record_batch_and_reader_inputs():
    batch = pa.record_batch({"e": ["a@b.cn"]})
    assert scan_table(batch, source="b", encoding=None)["findings_total"] == 1
    reader = pa.RecordBatchReader.from_batches(batch.schema, [batch, batch])
    assert scan_table(reader, source="r", encoding=None)["findings_total"] == 2


def test_empty_input_has_no_columns():
    r = scan_table([], source="e", encoding=None)
    assert_contract(r)
    assert (r["rows"], r["columns"], r["grade"]) == (0, [], "general-2")


def test_header_alone_grades_an_empty_column():
    r = scan_table(pa.table({"身份证号": pa.array([None, None], pa.string())}), source="t", encoding=None)
    assert r["columns"][0]["pi"] == "sensitive"
    assert r["columns"][0]["evidence"][0]["source"] == "header"
    assert r["grade"] == "general-4"


def write_gbk_csv(path, people: list[dict]) -> None:
    lines = [",".join(people[0])] + [",".join(p.values()) for p in people]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))


def test_scan_path_gbk_csv(tmp_path):
    people = fake_people(300)
    src = tmp_path / "people.csv"
    write_gbk_csv(src, people)
    r = scan_path(src)
    assert_contract(r)
    assert (r["source"], r["encoding"], r["rows"], r["grade"]) == (str(src), "gb18030", 300, "general-4")
    cols = {c["name"]: c for c in r["columns"]}
    assert cols["身份证号"]["types"] == [{"type": "CN_RESIDENT_ID", "cells": 300, "ratio": 1.0}]
    assert cols["手机"]["types"] == [{"type": "CN_MOBILE", "cells": 300, "ratio": 1.0}]
    assert {c: cols[c]["pi"] for c in cols} == {
        "姓名": "personal", "身份证号": "sensitive", "手机": "personal", "城市": "none",
        "金额": "none", "备注": "none"}
    assert cols["姓名"]["types"] == [{"type": "PERSON_NAME", "cells": 300, "ratio": 1.0}]
    assert r["findings_total"] == 900 and not r["findings_truncated"]
    first = r["findings"][:2]
    assert first == [{"row": 0, "column": "姓名", "type": "PERSON_NAME", "start": 0, "end": 2},
                     {"row": 0, "column": "身份证号", "type": "CN_RESIDENT_ID", "start": 0, "end": 18}]
    assert list(tmp_path.iterdir()) == [src]  # the temp parquet is gone


def test_scan_path_xlsx_and_parquet(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["contact", "qty"])
    wb.active.append(["mail me: wang@example.com", 3])
    wb.save(tmp_path / "t.xlsx")
    r = scan_path(tmp_path / "t.xlsx")
    assert (r["encoding"], r["rows"], r["findings_total"]) == (None, 1, 1)
    pq.write_table(pa.table({"card": ["6222021234567890128"]}), tmp_path / "t.parquet")
    r = scan_parquet(tmp_path / "t.parquet", source="t.parquet", encoding=None)
    assert r["findings"][0]["type"] == "BANK_CARD" and r["grade"] == "general-4"


def test_scan_path_passes_ingest_errors_through(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(UsageError) as err:
        scan_path(tmp_path / "e.csv")
    assert err.value.code == "vault.empty_file"
