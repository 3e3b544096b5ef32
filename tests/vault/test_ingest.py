"""vault.ingest: every supported input becomes one zstd Parquet; bad input leaves nothing behind."""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import random
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanshu.core.errors import UsageError
from suanshu.vault import ingest
from suanshu.vault.ingest import ingest_file


@pytest.fixture
def vault(tmp_path) -> Path:
    d = tmp_path / "vault"
    d.mkdir()
    return d


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return p


def rows_of(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def types_of(result) -> dict[str, str]:
    return {c["name"]: c["type"] for c in result.schema}


# --- CSV encodings -----------------------------------------------------------------------------


def test_utf8_csv_result_fields(tmp_path, vault):
    src = write(tmp_path, "t.csv", "name,qty,price,day\nalice,3,1.5,2024-01-02\nbob,-4,2,2024-02-29\n")
    dest = vault / "t.parquet"
    r = ingest_file(src, dest)
    assert (r.source_format, r.encoding, r.rows) == ("csv", "utf-8", 2)
    assert r.schema == [{"name": "name", "type": "VARCHAR"}, {"name": "qty", "type": "BIGINT"},
                        {"name": "price", "type": "DOUBLE"}, {"name": "day", "type": "DATE"}]
    assert r.bytes == dest.stat().st_size
    assert r.content_sha256 == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert r.source_sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert pq.ParquetFile(dest).metadata.row_group(0).column(0).compression == "ZSTD"
    assert rows_of(dest) == [
        {"name": "alice", "qty": 3, "price": 1.5, "day": dt.date(2024, 1, 2)},
        {"name": "bob", "qty": -4, "price": 2.0, "day": dt.date(2024, 2, 29)},
    ]
    assert sorted(p.name for p in vault.iterdir()) == ["t.parquet"]  # no temp files left


def test_utf8_bom_is_detected_and_stripped_from_the_header(tmp_path, vault):
    src = write(tmp_path, "bom.csv", b"\xef\xbb\xbf\xe5\xa7\x93\xe5\x90\x8d,age\n\xe5\xbc\xa0,30\n")
    r = ingest_file(src, vault / "o.parquet")
    assert r.encoding == "utf-8-sig"
    assert [c["name"] for c in r.schema] == ["姓名", "age"]


def test_gbk_chinese_csv(tmp_path, vault):
    text = "姓名,身份证号,城市\r\n张三,11010519491231002X,北京\r\n李四,440305199001011234,深圳\r\n"
    src = write(tmp_path, "gbk.csv", text, "gbk")
    r = ingest_file(src, vault / "o.parquet")
    assert r.encoding == "gb18030"
    assert [c["name"] for c in r.schema] == ["姓名", "身份证号", "城市"]
    assert rows_of(vault / "o.parquet")[1] == {"姓名": "李四", "身份证号": "440305199001011234",
                                              "城市": "深圳"}


def test_gb18030_only_characters(tmp_path, vault):
    rare = "𠮷€"  # outside GBK: four-byte GB18030 sequences
    with pytest.raises(UnicodeEncodeError):
        rare.encode("gbk")
    src = write(tmp_path, "g.csv", f"名字,n\n{rare},1\n", "gb18030")
    r = ingest_file(src, vault / "o.parquet")
    assert r.encoding == "gb18030"
    assert rows_of(vault / "o.parquet") == [{"名字": rare, "n": 1}]


def test_transcoding_streams_across_chunk_boundaries(tmp_path, vault, monkeypatch):
    monkeypatch.setattr(ingest, "CHUNK_CHARS", 5)  # splits multi-byte chars and \r\n pairs
    rng = random.Random(7)
    names = ["张三", "李四", "王五", "赵六"]
    lines = [f"{rng.choice(names)},{i}" for i in range(200)]
    src = write(tmp_path, "big.csv", "姓名,序号\r\n" + "\r\n".join(lines) + "\r\n", "gbk")
    r = ingest_file(src, vault / "o.parquet")
    assert (r.encoding, r.rows) == ("gb18030", 200)
    got = rows_of(vault / "o.parquet")
    assert [f"{x['姓名']},{x['序号']}" for x in got] == lines


# --- CSV dialects ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "sep"), [("t.tsv", "\t"), ("t.txt", "\t"), ("t.csv", ";"),
                                           ("t.csv", "|"), ("t.csv", ",")])
def test_delimiter_is_sniffed(tmp_path, vault, name, sep):
    src = write(tmp_path, name, sep.join(["a", "b", "c"]) + "\n" + sep.join(["1", "x y", "2.5"]) + "\n")
    r = ingest_file(src, vault / "o.parquet")
    assert types_of(r) == {"a": "BIGINT", "b": "VARCHAR", "c": "DOUBLE"}
    assert rows_of(vault / "o.parquet") == [{"a": 1, "b": "x y", "c": 2.5}]


def test_quoted_fields_with_delimiters_newlines_and_quotes(tmp_path, vault):
    src = write(tmp_path, "q.csv", 'id,note\r\n1,"a, b"\r\n2,"two\r\nlines"\r\n3,"say ""hi"""\r\n')
    ingest_file(src, vault / "o.parquet")
    assert [r["note"] for r in rows_of(vault / "o.parquet")] == ["a, b", "two\nlines", 'say "hi"']


def test_header_only_is_zero_rows(tmp_path, vault):
    r = ingest_file(write(tmp_path, "h.csv", "a,b\n"), vault / "o.parquet")
    assert r.rows == 0
    assert types_of(r) == {"a": "VARCHAR", "b": "VARCHAR"}


def test_column_names_keep_chinese_and_lose_surrounding_space(tmp_path, vault):
    r = ingest_file(write(tmp_path, "n.csv", " 姓名 ,\t手机号码 \nx,y\n"), vault / "o.parquet")
    assert [c["name"] for c in r.schema] == ["姓名", "手机号码"]


# --- type inference ----------------------------------------------------------------------------


def test_identifier_like_digits_stay_text(tmp_path, vault):
    text = (
        "postal,phone,card,rid,small,amount,ratio,day,badday,blank,mixed\n"
        "010010,13912345678,6222021234567890123,11010519491231002X,7,1234567890,0.5,2024-01-31,"
        "2024-02-30,,1\n"
        "100000,13812345678,6222021234567890124,440305199001011234,-12,0,3,1999-12-31,"
        "2024-01-01,,x\n"
    )
    r = ingest_file(write(tmp_path, "t.csv", text), vault / "o.parquet")
    assert types_of(r) == {
        "postal": "VARCHAR",  # leading zero
        "phone": "VARCHAR",  # 11 digits
        "card": "VARCHAR",
        "rid": "VARCHAR",
        "small": "BIGINT",
        "amount": "BIGINT",  # 10 digits is still a number
        "ratio": "DOUBLE",
        "day": "DATE",
        "badday": "VARCHAR",  # 2024-02-30 does not exist
        "blank": "VARCHAR",
        "mixed": "VARCHAR",
    }
    row = rows_of(vault / "o.parquet")[0]
    assert (row["postal"], row["phone"], row["blank"]) == ("010010", "13912345678", None)


def test_empty_strings_are_null_and_do_not_block_inference(tmp_path, vault):
    text = 'a,b,c\n1,"",x\n,2.5,\n 3 ,  ,y\n'
    r = ingest_file(write(tmp_path, "t.csv", text), vault / "o.parquet")
    assert types_of(r) == {"a": "BIGINT", "b": "DOUBLE", "c": "VARCHAR"}
    assert rows_of(vault / "o.parquet") == [{"a": 1, "b": None, "c": "x"},
                                           {"a": None, "b": 2.5, "c": None},
                                           {"a": 3, "b": None, "c": "y"}]


def test_zero_alone_is_a_number_but_zero_padded_is_not(tmp_path, vault):
    r = ingest_file(write(tmp_path, "t.csv", "a,b\n0,0\n5,05\n"), vault / "o.parquet")
    assert types_of(r) == {"a": "BIGINT", "b": "VARCHAR"}


class RecordingConnection:
    """A DuckDB connection that keeps the SQL it is given."""

    def __init__(self, con):
        self.con, self.sql = con, []

    def __enter__(self):
        self.con.__enter__()
        return self

    def __exit__(self, *exc):
        return self.con.__exit__(*exc)

    def execute(self, sql, *args):
        self.sql.append(sql)
        return self.con.execute(sql, *args)


def test_wide_csv_infers_every_column_with_bounded_queries(tmp_path, vault, monkeypatch):
    # One SELECT with five regex counters per column made DuckDB's planning time and memory grow
    # faster than the columns: 3000 columns of one row ran out of 1 GB. Queries stay small now,
    # and the types are those of a narrow file.
    kinds = {  # column kind -> (cells of three rows, inferred type)
        "int": (["1", " 2 ", ""], "BIGINT"),
        "dbl": (["1.5", "2", ""], "DOUBLE"),
        "day": (["2024-01-02", "", "1999-12-31"], "DATE"),
        "phone": (["13812345678", "7", ""], "VARCHAR"),
        "text": (["x" * 200, "y", "z"], "VARCHAR"),
        "blank": (["", " ", ""], "VARCHAR"),
    }
    names = [f"{kind}{i}" for i in range(1000) for kind in [list(kinds)[i % len(kinds)]]]
    rows = [[kinds[n.rstrip("0123456789")][0][r] for n in names] for r in range(3)]
    src = write(tmp_path, "wide.csv", "\n".join(",".join(r) for r in [names, *rows]) + "\n")
    recorded = []

    def connect(work):
        recorded.append(RecordingConnection(connect_duckdb(work)))
        return recorded[-1]

    connect_duckdb = ingest._connect
    monkeypatch.setattr(ingest, "_connect", connect)
    r = ingest_file(src, vault / "o.parquet")
    assert types_of(r) == {n: kinds[n.rstrip("0123456789")][1] for n in names}
    assert r.rows == 3
    regexes = [sql.count("regexp_full_match") for con in recorded for sql in con.sql]
    assert 0 < max(regexes) <= 1000  # ~200 columns' worth at most per query
    assert sum(regexes) == 5 * len(names)  # every column inferred once


def test_too_many_columns_is_refused_before_any_work(tmp_path, vault):
    header = ",".join(f"c{i}" for i in range(ingest.MAX_COLUMNS + 1))
    src = write(tmp_path, "w.csv", header + "\n" + ",".join("1" * (ingest.MAX_COLUMNS + 1)) + "\n")
    with pytest.raises(UsageError) as err:
        ingest_file(src, vault / "o.parquet")
    assert err.value.code == "vault.too_many_columns"
    assert f"{ingest.MAX_COLUMNS + 1} columns" in err.value.message
    assert list(vault.iterdir()) == []


# --- Parquet and Excel -------------------------------------------------------------------------


def test_parquet_is_rewritten_with_zstd_and_types_kept(tmp_path, vault):
    table = pa.table({
        " id ": pa.array([1, 2], pa.int64()),
        "名称": ["甲", "乙"],
        "price": [1.25, None],
        "day": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2)]),
    })
    src = tmp_path / "in.parquet"
    pq.write_table(table, src, compression="snappy")
    r = ingest_file(src, vault / "o.parquet")
    assert (r.source_format, r.encoding, r.rows) == ("parquet", None, 2)
    assert types_of(r) == {"id": "BIGINT", "名称": "VARCHAR", "price": "DOUBLE", "day": "DATE"}
    assert pq.ParquetFile(vault / "o.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    assert rows_of(vault / "o.parquet")[0] == {"id": 1, "名称": "甲", "price": 1.25,
                                              "day": dt.date(2024, 1, 1)}


def test_parquet_is_detected_by_magic_not_extension(tmp_path, vault):
    src = tmp_path / "data.csv"
    pq.write_table(pa.table({"a": [1]}), src)
    assert ingest_file(src, vault / "o.parquet").source_format == "parquet"


def make_xlsx(path: Path, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.create_sheet("empty")  # an extra sheet without data does not count
    wb.save(path)
    return path


def test_xlsx_sheet_with_data(tmp_path, vault):
    src = make_xlsx(tmp_path / "t.xlsx", [
        ["姓名", "手机", "数量", "单价", "日期", "时间"],
        ["张三", "13912345678", 3, 2.5, dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 8, 30)],
        ["李四", "13812345678", 4, 3.0, dt.datetime(2024, 3, 2), dt.datetime(2024, 3, 2, 9, 0)],
        [None, None, None, None, None, None],  # formatted but empty rows are not data
    ])
    r = ingest_file(src, vault / "o.parquet")
    assert (r.source_format, r.encoding, r.rows) == ("xlsx", None, 2)
    assert types_of(r) == {"姓名": "VARCHAR", "手机": "VARCHAR", "数量": "BIGINT", "单价": "DOUBLE",
                           "日期": "DATE", "时间": "VARCHAR"}
    assert rows_of(vault / "o.parquet")[1] == {
        "姓名": "李四", "手机": "13812345678", "数量": 4, "单价": 3.0,
        "日期": dt.date(2024, 3, 2), "时间": "2024-03-02 09:00:00"}


def test_xlsx_the_only_sheet_with_data_is_read_wherever_it_is(tmp_path, vault):
    wb = openpyxl.Workbook()
    wb.active.title = "封面"
    wb.active.append([None, None])  # a formatted but empty row
    data = wb.create_sheet("数据")
    data.append(["邮箱"])
    data.append(["a@b.com"])
    wb.create_sheet("空白")
    wb.save(tmp_path / "w.xlsx")
    r = ingest_file(tmp_path / "w.xlsx", vault / "o.parquet")
    assert types_of(r) == {"邮箱": "VARCHAR"}
    assert rows_of(vault / "o.parquet") == [{"邮箱": "a@b.com"}]


def test_xlsx_with_data_on_several_sheets_is_refused_naming_them(tmp_path, vault):
    # Reading only the first sheet would leave the e-mail addresses on the second unscanned.
    wb = openpyxl.Workbook()
    wb.active.title = "第一页"
    wb.active.append(["数量"])
    wb.active.append([3])
    second = wb.create_sheet("第二页")
    second.append(["邮箱"])
    second.append(["a@b.com"])
    wb.create_sheet("空白")
    wb.save(tmp_path / "w.xlsx")
    with pytest.raises(UsageError) as err:
        ingest_file(tmp_path / "w.xlsx", vault / "o.parquet")
    assert err.value.code == "vault.many_sheets"
    assert "'第一页', '第二页'" in err.value.message
    assert "空白" not in err.value.message
    assert "save each sheet as its own file" in err.value.message
    assert list(vault.iterdir()) == []


def test_xlsx_with_no_data_on_any_sheet_is_empty(tmp_path, vault):
    wb = openpyxl.Workbook()
    wb.create_sheet("two")
    wb.save(tmp_path / "w.xlsx")
    with pytest.raises(UsageError) as err:
        ingest_file(tmp_path / "w.xlsx", vault / "o.parquet")
    assert err.value.code == "vault.empty_file"
    assert "every sheet is empty" in err.value.message  # not only the first one


# --- bad input: a stable code, a useful message, nothing left behind ---------------------------


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def bad_xlsx_ragged(tmp_path):
    return make_xlsx(tmp_path / "r.xlsx", [["a", "b"], [1, 2], [3, 4, "extra"]])


def bad_parquet_dups(tmp_path):
    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["Name", "name"]), p)
    return p


BAD_INPUTS = {
    "empty_file_zero_bytes": ("e.csv", b"", "vault.empty_file"),
    "empty_file_blank_lines": ("e.csv", b"\n\n  \n", "vault.empty_file"),
    "empty_file_bom_only": ("e.csv", b"\xef\xbb\xbf", "vault.empty_file"),
    "binary_png_as_csv": ("img.csv", PNG, "vault.binary_file"),
    "binary_zip_as_csv": ("z.csv", zip_bytes({"a.txt": b"x"}), "vault.binary_file"),
    "binary_nul_bytes": ("n.csv", b"a,b\n1,\x00\x00\n", "vault.binary_file"),
    "unknown_encoding": ("u.csv", b"a,b\n\x80\xff\x80,1\n", "vault.unknown_encoding"),
    "utf16": ("u.csv", "a,b\n1,2\n".encode("utf-16"), "vault.unknown_encoding"),
    "utf16le_no_bom": ("u.csv", "名字,城市\n".encode("utf-16-le"), "vault.unknown_encoding"),
    "utf16be_no_bom": ("u.csv", "name,city\nx,y\n".encode("utf-16-be"), "vault.unknown_encoding"),
    "ragged_fewer": ("r.csv", b"a,b,c\n1,2,3\n4,5\n", "vault.ragged_rows"),
    "ragged_more": ("r.csv", b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n", "vault.ragged_rows"),
    "duplicate_columns": ("d.csv", "姓名,Phone, phone \n1,2,3\n".encode(), "vault.duplicate_columns"),
    "empty_column_name": ("c.csv", b"a,,c\n1,2,3\n", "vault.empty_column_name"),
    "unterminated_quote": ("q.csv", b'a,b\n1,"open\n2,3\n', "vault.bad_csv"),
    "unsupported_format": ("data.json", b'{"a": 1}', "vault.unsupported_format"),
    "legacy_xls": ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
                   "vault.unsupported_format"),
    "bad_parquet_extension": ("p.parquet", b"not parquet at all", "vault.bad_parquet"),
    "bad_parquet_truncated": ("p.parquet", b"PAR1" + b"\x01" * 40, "vault.bad_parquet"),
    "bad_excel_not_zip": ("x.xlsx", b"just text", "vault.bad_excel"),
    "bad_excel_corrupt": ("x.xlsx", zip_bytes({"xl/workbook.xml": b"<not xml"}), "vault.bad_excel"),
    "ragged_xlsx": (bad_xlsx_ragged, None, "vault.ragged_rows"),
    "parquet_duplicate_columns": (bad_parquet_dups, None, "vault.duplicate_columns"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_code_and_leaves_nothing(tmp_path, vault, case):
    name, data, code = BAD_INPUTS[case]
    src = name(tmp_path) if callable(name) else write(tmp_path, name, data)
    dest = vault / "out.parquet"
    with pytest.raises(UsageError) as err:
        ingest_file(src, dest)
    assert err.value.code == code
    assert err.value.message
    assert not dest.exists()
    assert list(vault.iterdir()) == []


def test_not_found(tmp_path, vault):
    with pytest.raises(UsageError) as err:
        ingest_file(tmp_path / "missing.csv", vault / "o.parquet")
    assert err.value.code == "vault.not_found"
    assert list(vault.iterdir()) == []


def test_a_directory_is_not_a_file(tmp_path, vault):
    (tmp_path / "adir").mkdir()
    with pytest.raises(UsageError) as err:
        ingest_file(tmp_path / "adir", vault / "o.parquet")
    assert err.value.code == "vault.not_a_file"
    assert "is a directory" in err.value.message
    assert list(vault.iterdir()) == []


def test_ragged_message_names_the_line_and_hides_the_data(tmp_path, vault):
    src = write(tmp_path, "r.csv", "a,b\n1,2\n3,4\n13912345678\n")
    with pytest.raises(UsageError) as err:
        ingest_file(src, vault / "o.parquet")
    assert "line 4" in err.value.message
    assert "13912345678" not in err.value.message


def test_duplicate_message_names_the_columns(tmp_path, vault):
    with pytest.raises(UsageError) as err:
        ingest_file(write(tmp_path, "d.csv", "id,ID,x\n1,2,3\n"), vault / "o.parquet")
    assert "ID" in err.value.message


def test_failure_at_the_last_step_leaves_nothing_and_keeps_an_old_dest(tmp_path, vault, monkeypatch):
    dest = vault / "o.parquet"
    dest.write_bytes(b"previous version")

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr(ingest, "_fsync", boom)
    with pytest.raises(OSError):
        ingest_file(write(tmp_path, "t.csv", "a\n1\n"), dest)
    assert dest.read_bytes() == b"previous version"
    assert [p.name for p in vault.iterdir()] == ["o.parquet"]


def test_interrupt_during_conversion_leaves_nothing(tmp_path, vault, monkeypatch):
    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "_schema", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ingest_file(write(tmp_path, "t.csv", "a\n1\n"), vault / "o.parquet")
    assert list(vault.iterdir()) == []


def test_corrupt_parquet_pages_are_bad_parquet(tmp_path, vault):
    src = tmp_path / "c.parquet"
    pq.write_table(pa.table({"a": list(range(50_000)), "b": [f"s{i}" for i in range(50_000)]}),
                   src, compression="zstd")
    data = bytearray(src.read_bytes())
    rng = random.Random(3)
    for i in range(1000, 20000):  # scramble data pages, keep the footer
        data[i] = rng.randrange(256)
    src.write_bytes(bytes(data))
    with pytest.raises(UsageError) as err:
        ingest_file(src, vault / "o.parquet")
    assert err.value.code == "vault.bad_parquet"
    assert list(vault.iterdir()) == []


# --- CSV read in place -------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "plain"), [
    ("姓名,n\n张三,1\n李四,2\n".encode(), True),
    ("姓名,n\n张三,1\n李四,2".encode(), True),  # no newline at the end
    ("姓名,n\r\n张三,1\r\n".encode(), False),  # \r\n: DuckDB's strict reader takes \n only
    (b"\xef\xbb\xbfa,b\n1,2\n", False),  # a BOM
    ("姓名,n\n张三,1\n".encode("gbk"), False),
    (b"a,b\n1,\x00\n", False),
    ("a,b\n1,张\n".encode()[:-2] + b"\n", False),  # a character cut short
])
def test_only_plain_utf8_is_read_in_place(tmp_path, monkeypatch, data, plain):
    monkeypatch.setattr(ingest, "CHUNK_CHARS", 3)  # pieces end inside characters and lines
    assert ingest._plain_utf8(write(tmp_path, "t.csv", data)) is plain


@pytest.mark.parametrize(("name", "decoy"), [("客户[1].csv", "客户1.csv"), ("a*b?.csv", "aXbY.csv")])
def test_a_file_read_in_place_gives_what_transcoding_gives(tmp_path, vault, name, decoy):
    """Glob characters in the name are only characters (DuckDB's read_csv would read the decoy
    its pattern matches), and \r\n (transcoded) or \n (read in place) make the same file."""
    text = '姓名,手机,note\n张三,13912345678,"two\nlines"\n李四,13812345678,x\n'
    write(tmp_path, decoy, "姓名,手机,note\n王五,13700000000,decoy\n")
    lf = ingest_file(write(tmp_path, name, text), vault / "lf.parquet")
    crlf = ingest_file(write(tmp_path, "crlf.csv", text.replace("\n", "\r\n")), vault / "crlf.parquet")
    assert (lf.encoding, lf.rows, lf.schema) == ("utf-8", 2, crlf.schema) and crlf.encoding == "utf-8"
    assert rows_of(vault / "lf.parquet") == rows_of(vault / "crlf.parquet") == [
        {"姓名": "张三", "手机": "13912345678", "note": "two\nlines"},
        {"姓名": "李四", "手机": "13812345678", "note": "x"}]
    assert sorted(p.name for p in vault.iterdir()) == ["crlf.parquet", "lf.parquet"]


def test_without_links_a_plain_file_is_transcoded(tmp_path, vault, monkeypatch):
    def no_links(self, target):
        raise OSError("links are not supported here")

    monkeypatch.setattr(Path, "symlink_to", no_links)
    r = ingest_file(write(tmp_path, "t.csv", "姓名,n\n张三,1\n"), vault / "o.parquet")
    assert (r.encoding, rows_of(vault / "o.parquet")) == ("utf-8", [{"姓名": "张三", "n": 1}])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="ab,\"\r\n张𠮷 ", max_size=40), bom=st.booleans(), chunk=st.sampled_from([1, 2, 3, 5, 64]),
       cut=st.integers(0, 60))
def test_utf8_in_bytes_writes_what_decoding_writes(tmp_path, monkeypatch, text, bom, chunk, cut):
    """The bytes way (``_utf8_into``) against Python's decoder (``_decode_into``): the same file
    for any newlines and chunk cuts, and the same refusal of bytes that are not UTF-8 (a
    character cut short) or that hold NUL."""
    monkeypatch.setattr(ingest, "CHUNK_CHARS", chunk)
    data = (codecs.BOM_UTF8 if bom else b"") + text.encode()
    cut = max(cut, 3) if bom else cut  # one fault at a time: none inside the BOM
    for raw in (data, data[:cut] + b"\xe5" + data[cut:], data[:cut] + b"\x00" + data[cut:]):
        src = write(tmp_path, "s.csv", raw)
        outcomes = []
        for convert in (lambda s, o: ingest._utf8_into(s, o, bom=bom),
                        lambda s, o: ingest._decode_into(s, o, "utf-8-sig" if bom else "utf-8")):
            out = tmp_path / "o.csv"
            try:
                convert(src, out)
                outcomes.append(out.read_bytes())
            except UnicodeDecodeError:
                outcomes.append("not utf-8")
            except UsageError as e:
                outcomes.append(e.code)
        assert outcomes[0] == outcomes[1]
