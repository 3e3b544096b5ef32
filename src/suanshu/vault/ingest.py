"""Ingest a provider's file (CSV / Parquet / Excel) into one zstd Parquet file, atomically.

The pipeline, for every format:

1. sniff the format from magic bytes, then the extension;
2. bring the data to one normal form: a UTF-8 CSV with ``\\n`` newlines (CSV and Excel) or the
   Parquet file itself; a CSV already in that form (checked in one pass, no copy) is read in
   place, which spares a copy of a large file;
3. let DuckDB read it with every column as text, infer types over the whole column in one
   aggregate pass, then ``COPY`` it with casts to a Parquet file in a private temp dir that sits
   next to ``dest`` (same filesystem, so the final ``os.replace`` is atomic);
4. fsync, rename, fsync the directory. Whatever fails, the temp dir is removed and ``dest`` is
   left untouched.

Memory stays bounded: transcoding streams in chunks, DuckDB streams CSV -> Parquet, openpyxl runs
in read-only mode. Bad input raises ``UsageError`` with a stable ``vault.*`` code.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from suanshu.core.errors import UsageError
from suanshu.vault.store import sha256_file

CHUNK_CHARS = 4 * 1024 * 1024  # transcoding chunk: a few MB keeps memory flat for any file size
SAMPLE_CHARS = 1024 * 1024  # enough text to read the header and sniff the delimiter
DELIMITERS = (",", "\t", ";", "|")
CSV_EXTENSIONS = {".csv", ".txt", ".tsv", ""}
PARQUET_EXTENSIONS = {".parquet", ".pq"}
EXCEL_EXTENSIONS = {".xlsx", ".xlsm"}

# Signatures of files that are certainly not text, so a PNG renamed to .csv gets a clear message.
BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"\x7fELF": "an executable",
    b"\xd0\xcf\x11\xe0": "a legacy Office (.xls/.doc) file",
}

# Type inference: RE2 patterns matched against every non-null cell (spaces around allowed; the
# final cast trims them). Identifier-like digit strings (phone numbers, bank cards, ID numbers,
# postal codes such as 010010) must stay text: one value with a leading zero or 11+ digits keeps
# the whole column VARCHAR. That rule also caps BIGINT at 10 digits, well inside its range.
RE_ID_LIKE = r" *-?(0[0-9]+(\.[0-9]+)?|[0-9]{11,}) *"
RE_NUMBER = r" *-?(0|[1-9][0-9]*)(\.[0-9]+)? *"  # an integer when it has no "."
RE_DATE = r" *[0-9]{4}-[0-9]{2}-[0-9]{2} *"
RE_BLANK = r" +"  # like the empty string: NULL
# Columns per type-inference query (``_infer_types``): past ~100 the planning cost of one query
# grows faster than its columns; each extra query is one more read of the file.
INFER_COLUMNS = 100
MEMORY_LIMIT = "1GB"  # DuckDB spills to the work dir beyond this instead of growing with the file
# Widest table taken. DuckDB's Parquet writer reserves memory per column: ~5,500 columns of one
# row already exhaust MEMORY_LIMIT, and a table that wide is almost always a pivot or an export
# mistake. (Excel stops at 16,384, PostgreSQL at 1,600.)
MAX_COLUMNS = 4096
# Rows per Parquet row group (DuckDB's default, stated): a scan worker reads whole row groups
# (``scan/report._runs``), or the batches of one when a file has fewer groups than workers.
ROW_GROUP_ROWS = 122_880


@dataclass(frozen=True)
class IngestResult:
    source_format: str  # "csv" | "parquet" | "xlsx"
    encoding: str | None  # "utf-8" | "utf-8-sig" | "gb18030"; None for parquet/xlsx
    rows: int
    schema: list[dict]  # [{"name": str, "type": DuckDB type name}]
    bytes: int  # size of the written parquet
    content_sha256: str  # of the written parquet file
    source_sha256: str  # of the source file


def ingest_file(src: Path, dest: Path) -> IngestResult:
    """Convert ``src`` to a zstd Parquet file at ``dest``; all or nothing."""
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        if not src.exists():
            raise UsageError("vault.not_found", f"no such file: {src}")
        what = "a directory" if src.is_dir() else "not a regular file (a pipe, socket or device)"
        raise UsageError("vault.not_a_file", f"{src} is {what}; give the path of one data file")
    fmt = _sniff_format(src)
    source_sha256 = sha256_file(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".ingest-", dir=dest.parent))
    try:
        out = work / "out.parquet"
        with _connect(work) as con:
            encoding = _convert(con, fmt, src, work, out)
            schema = _schema(con, out)
        rows = pq.read_metadata(out).num_rows
        content_sha256 = sha256_file(out)
        size = out.stat().st_size
        _fsync(out)
        os.replace(out, dest)
        _fsync_dir(dest.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return IngestResult(fmt, encoding, rows, schema, size, content_sha256, source_sha256)


def _convert(con, fmt: str, src: Path, work: Path, out: Path) -> str | None:
    """Write ``out`` from ``src``; return the detected text encoding (CSV only)."""
    if fmt == "parquet":
        _parquet_to_parquet(con, src, out)
        return None
    text = work / "source.csv"
    if fmt == "xlsx":
        header = _excel_to_csv(src, text)
        _csv_to_parquet(con, text, ",", header, out)
        return None
    encoding = _transcode(src, text)
    delimiter, header = _sniff_csv(text, prefer_tab=src.suffix.lower() == ".tsv")
    _csv_to_parquet(con, text, delimiter, header, out)
    return encoding


# --- format sniffing -------------------------------------------------------------------------


def _sniff_format(src: Path) -> str:
    with src.open("rb") as f:
        head = f.read(8)
    if not head:
        raise UsageError("vault.empty_file", f"{src.name} is empty (0 bytes)")
    ext = src.suffix.lower()
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04") and _is_xlsx(src):
        return "xlsx"
    if ext in EXCEL_EXTENSIONS:
        raise UsageError(
            "vault.bad_excel", f"{src.name} is not a readable .xlsx workbook (corrupt, encrypted "
            "or a legacy .xls renamed); open it in Excel and save it as .xlsx or CSV")
    if ext in PARQUET_EXTENSIONS:
        raise UsageError("vault.bad_parquet", f"{src.name} is not a Parquet file (no PAR1 header)")
    if ext in CSV_EXTENSIONS:
        return "csv"
    raise UsageError(
        "vault.unsupported_format",
        f"{src.name}: unsupported file type {ext!r}; upload CSV (.csv/.tsv/.txt), Parquet or .xlsx")


def _is_xlsx(src: Path) -> bool:
    try:
        with zipfile.ZipFile(src) as z:
            return "xl/workbook.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


# --- CSV: encoding, transcoding, dialect -----------------------------------------------------


def _transcode(src: Path, out: Path) -> str:
    """Stream ``src`` into ``out`` as UTF-8 with ``\\n`` newlines; return the source encoding.
    A file in that form already becomes a link (``_plain_utf8``): no copy of a large file.

    UTF-8 is tried before GB18030 because valid UTF-8 Chinese text is almost never valid
    GB18030 of the same meaning, while GBK/GB18030 bytes are rarely valid UTF-8. GBK is a subset
    of GB18030, so a GBK file is reported as "gb18030".
    """
    with src.open("rb") as f:
        head = f.read(64 * 1024)
    for magic, what in BINARY_MAGIC.items():
        if head.startswith(magic):
            raise UsageError("vault.binary_file", f"{src.name} looks like {what}, not a CSV file")
    if _looks_utf16(head):
        raise UsageError(
            "vault.unknown_encoding", f"{src.name} is UTF-16 text; save it as UTF-8 (or GBK) CSV")
    candidates = ["utf-8-sig"] if head.startswith(codecs.BOM_UTF8) else ["utf-8", "gb18030"]
    if candidates[0] == "utf-8" and _plain_utf8(src) and _link(src, out):
        return "utf-8"
    for encoding in candidates:
        try:
            if encoding == "gb18030":
                _decode_into(src, out, encoding)
            else:
                _utf8_into(src, out, bom=encoding == "utf-8-sig")
            return encoding
        except UnicodeDecodeError:
            continue
    raise UsageError(
        "vault.unknown_encoding",
        f"{src.name} is neither UTF-8 nor GBK/GB18030 text; save it as UTF-8 CSV")


def _plain_utf8(src: Path) -> bool:
    """Whether ``src`` is UTF-8 without a BOM, with ``\\n`` line ends only and no NUL byte: the
    form ``_transcode`` writes, so it can be read as it is (no copy of a large file). Anything
    else goes the transcoding way and gets its errors there."""
    with src.open("rb") as f:
        if f.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:
            return False
        f.seek(0)
        return all(b"\r" not in piece and b"\x00" not in piece and _utf8(piece) for piece in _line_pieces(f))


def _line_pieces(f: BinaryIO) -> Iterator[bytes]:
    """The rest of ``f`` in pieces that end after a line end (in a line of several chunks, before
    a character), never inside a UTF-8 character nor between ``\\r`` and ``\\n``: each piece can
    be checked and rewritten alone."""
    rest = b""
    while block := f.read(CHUNK_CHARS):
        data = rest + block
        # a \r as the last byte read may be the first half of a \r\n
        cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
        if not cut and len(data) > 4 * CHUNK_CHARS:
            cut = len(data) - 1
            while cut and data[cut] & 0xC0 == 0x80:  # back to the start of the last character
                cut -= 1
        if cut:
            yield data[:cut]
        rest = data[cut:]
    if rest:
        yield rest


def _link(src: Path, name: Path) -> bool:
    """A link to ``src`` under a plain name (DuckDB's read_csv takes [, * and ? in a file name as
    a glob); False where the filesystem has no links."""
    try:
        name.symlink_to(src.resolve())
    except OSError:
        return False
    return True


def _utf8(data: bytes) -> bool:
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 (Excel's "Unicode text"), with or without a BOM: NUL bytes, all on one parity,
    and the bytes decode cleanly. A binary file has NULs on both parities."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    head = head[: len(head) // 2 * 2]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd and not even:
        encoding = "utf-16-le"  # ASCII "a" is 61 00
    elif even and not odd:
        encoding = "utf-16-be"
    else:
        return False
    text = head.decode(encoding, errors="replace")
    return "\ufffd" not in text[:-1]  # the sample may end inside a surrogate pair


def _utf8_into(src: Path, out: Path, *, bom: bool) -> None:
    """``_decode_into`` for UTF-8, on bytes: the same output (universal newlines, the BOM
    dropped, NUL refused) without decoding to Python text and back; Arrow checks the UTF-8."""
    with src.open("rb") as raw, out.open("wb") as writer:
        if not bom or raw.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            raw.seek(0)  # (as "utf-8-sig" decodes: a BOM is dropped only where there is one)
        for piece in _line_pieces(raw):
            if not _utf8(piece):
                raise UnicodeDecodeError("utf-8", piece[:0], 0, 0, "not UTF-8")
            if b"\x00" in piece:
                raise _nul_bytes(src)
            writer.write(piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))


def _nul_bytes(src: Path) -> UsageError:
    return UsageError("vault.binary_file", f"{src.name} contains NUL bytes: it is not a text file")


def _decode_into(src: Path, out: Path, encoding: str) -> None:
    # newline=None: universal newlines, so \r\n and \r become \n (DuckDB's strict mode rejects
    # files that mix them, which spreadsheets exports often do).
    with (
        src.open("rb") as raw,
        io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline=None) as reader,
        out.open("w", encoding="utf-8", newline="\n") as writer,
    ):
        while chunk := reader.read(CHUNK_CHARS):
            if "\x00" in chunk:
                raise _nul_bytes(src)
            writer.write(chunk)


def _sniff_csv(text: Path, *, prefer_tab: bool) -> tuple[str, list[str]]:
    """Pick the delimiter and read the header from the start of the UTF-8 text."""
    with text.open(encoding="utf-8", newline="") as f:
        sample = f.read(SAMPLE_CHARS)
        complete = not f.read(1)
    if not sample.strip():
        raise UsageError("vault.empty_file", "the file has no header line and no data")
    delimiter = _pick_delimiter(sample, complete, prefer_tab)
    try:
        header = next(csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar='"'))
    except csv.Error as e:  # e.g. a quoted header field running past the csv module's limit
        raise UsageError("vault.bad_csv", f"the header line cannot be parsed: {e}") from None
    return delimiter, _check_names(header)


def _pick_delimiter(sample: str, complete: bool, prefer_tab: bool) -> str:
    """The delimiter that splits every sampled record into the same number (>1) of fields.

    Among consistent ones the widest wins (tab first for .tsv); if none is consistent, the one
    that splits the header widest, so that DuckDB then reports the ragged line.
    """
    order = ("\t", ",", ";", "|") if prefer_tab else DELIMITERS
    best, best_width, fallback, fallback_width = None, 1, ",", 1
    for d in order:
        try:
            records = [r for r in csv.reader(io.StringIO(sample), delimiter=d, quotechar='"') if r]
        except csv.Error:  # a field over the csv module's size limit: judge by the others
            continue
        if not complete and len(records) > 1:
            records = records[:-1]  # the last record may be cut by the sample boundary
        widths = {len(r) for r in records}
        if len(widths) == 1 and (w := widths.pop()) > best_width:
            best, best_width = d, w
        if records and len(records[0]) > fallback_width:
            fallback, fallback_width = d, len(records[0])
    return best or fallback


def _check_names(raw: list[str]) -> list[str]:
    """Strip whitespace and stray BOMs; refuse empty and duplicate (case-insensitive) names and
    more than ``MAX_COLUMNS`` of them."""
    names = [str(n).replace("\ufeff", "").strip() for n in raw]
    if not names or all(not n for n in names):
        raise UsageError("vault.empty_file", "the first line (header) is blank")
    if len(names) > MAX_COLUMNS:
        raise UsageError(
            "vault.too_many_columns",
            f"the table has {len(names)} columns; at most {MAX_COLUMNS} are supported: split it "
            "into narrower files that each keep the key column, or store it long "
            "(one row per key, name and value)")
    empty = [i + 1 for i, n in enumerate(names) if not n]
    if empty:
        raise UsageError(
            "vault.empty_column_name",
            f"header column(s) {', '.join(map(str, empty))} have no name; name every column")
    spellings: dict[str, list[str]] = {}
    for n in names:
        spellings.setdefault(n.casefold(), []).append(n)
    dups = [" / ".join(group) for group in spellings.values() if len(group) > 1]
    if dups:
        raise UsageError(
            "vault.duplicate_columns",
            f"duplicate column names (case-insensitive): {'; '.join(dups)}; rename them")
    return names


# --- DuckDB ----------------------------------------------------------------------------------


def _connect(work: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that never downloads or autoloads extensions and spills into ``work``.

    Used as a context manager: leaving the ``with`` block closes it.
    """
    return duckdb.connect(":memory:", config={
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "temp_directory": str(work / "duckdb.tmp"),
        "memory_limit": MEMORY_LIMIT,
    })


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _read_csv_sql(text: Path, delimiter: str, width: int) -> str:
    # Positional names c0..cN: the real names (any text, duplicates already refused) are
    # applied only in the final SELECT, so nothing in them can confuse read_csv.
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width)) + "}"
    return (
        f"read_csv({quote_literal(str(text))}, auto_detect=false, header=true, "
        f"columns={columns}, delim={quote_literal(delimiter)}, quote='\"', escape='\"', "
        "new_line='\\n', strict_mode=true, null_padding=false)"
    )


def _csv_to_parquet(con, text: Path, delimiter: str, header: list[str], out: Path) -> None:
    source = _read_csv_sql(text, delimiter, len(header))
    try:
        types = _infer_types(con, source, len(header))
        select = ", ".join(
            f"{_cast(f'c{i}', t)} AS {quote_ident(name)}"
            for i, (name, t) in enumerate(zip(header, types, strict=True)))
        _copy(con, f"SELECT {select} FROM {source}", out)
    except duckdb.InvalidInputException as e:  # the data; not disk or memory trouble (ours)
        raise _csv_error(e) from None


def _infer_types(con, source: str, width: int) -> list[str]:
    """Aggregate passes over the whole file: five counters per column decide its type.

    Cheap expressions on purpose (no trim, the date cast only where the pattern matched): this
    pass dominates ingest time on large files. One query covers at most ``INFER_COLUMNS``
    columns: DuckDB's planning time and memory grow faster than linearly with the expressions
    of one SELECT (3000 columns, 15,000 aggregates, ran out of 1 GB on a one-row file), so a
    wide file gets a few bounded passes instead.
    """
    types: list[str] = []
    for first in range(0, width, INFER_COLUMNS):
        columns = range(first, min(first + INFER_COLUMNS, width))
        parts = [part for i in columns for part in _type_counters(f"c{i}")]
        counts = con.execute(f"SELECT {', '.join(parts)} FROM {source}").fetchone()
        types += [_decide_type(*counts[5 * k: 5 * k + 5]) for k in range(len(columns))]
    return types


def _type_counters(c: str) -> list[str]:
    """The five counts ``_decide_type`` takes, for column ``c``."""
    return [
        f"count({c}) - " + _count_if(f"regexp_full_match({c}, '{RE_BLANK}')"),
        _count_if(f"regexp_full_match({c}, '{RE_ID_LIKE}')"),
        _count_if(f"regexp_full_match({c}, '{RE_NUMBER}') AND NOT contains({c}, '.')"),
        _count_if(f"regexp_full_match({c}, '{RE_NUMBER}')"),
        _count_if(f"CASE WHEN regexp_full_match({c}, '{RE_DATE}') "
                  f"THEN TRY_CAST(trim({c}) AS DATE) IS NOT NULL ELSE false END"),
    ]


def _count_if(condition: str) -> str:
    return f"coalesce(count_if({condition}), 0)"  # count_if over only NULLs is NULL, not 0


def _decide_type(non_null: int, id_like: int, ints: int, numbers: int, dates: int) -> str:
    if non_null == 0 or id_like:
        return "VARCHAR"
    if ints == non_null:
        return "BIGINT"
    if numbers == non_null:
        return "DOUBLE"
    if dates == non_null:
        return "DATE"
    return "VARCHAR"


def _cast(col: str, type_: str) -> str:
    if type_ == "VARCHAR":
        return col  # kept as written; DuckDB already reads empty fields as NULL
    return f"CAST(NULLIF(trim({col}), '') AS {type_})"


def _copy(con, select: str, out: Path) -> None:
    con.execute(f"COPY ({select}) TO {quote_literal(str(out))} "
                f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})")


def _schema(con, out: Path) -> list[dict]:
    rows = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({quote_literal(str(out))})").fetchall()
    return [{"name": r[0], "type": r[1]} for r in rows]


_LINE = re.compile(r"CSV Error on Line: (\d+)")


def _csv_error(e: duckdb.InvalidInputException) -> UsageError:
    """Map DuckDB's CSV errors to stable codes. Never echo the offending line: it may hold
    personal data, and the line number is enough to find it."""
    msg = str(e)
    m = _LINE.search(msg)
    where = f" on line {m.group(1)}" if m else ""
    if "Expected Number of Columns" in msg:
        found = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", msg)
        detail = f" (expected {found.group(1)} fields, found {found.group(2)})" if found else ""
        return UsageError(
            "vault.ragged_rows",
            f"a row{where} has a different number of fields than the header{detail}; "
            "fix that row or quote fields that contain the delimiter")
    if "Maximum line size" in msg:
        return UsageError(
            "vault.bad_csv", f"a line{where} is too long (over 2 MB); is the delimiter right?")
    if "unterminated quote" in msg:
        return UsageError(
            "vault.bad_csv", f"unterminated quoted field{where}; check the quotes on that line")
    return UsageError("vault.bad_csv", f"the CSV could not be parsed{where}: not RFC 4180 text")


# --- Parquet ---------------------------------------------------------------------------------


def _parquet_to_parquet(con, src: Path, out: Path) -> None:
    try:
        with pq.ParquetFile(src) as pf:
            names = pf.schema_arrow.names
    except (pa.ArrowException, OSError) as e:
        raise UsageError("vault.bad_parquet", f"{src.name} is not a readable Parquet file: {e}") \
            from None
    if not names:
        raise UsageError("vault.empty_file", f"{src.name} has no columns")
    clean = _check_names(names)
    select = ", ".join(f"{quote_ident(o)} AS {quote_ident(n)}" for o, n in zip(names, clean))
    try:
        _copy(con, f"SELECT {select} FROM read_parquet({quote_literal(str(src))})", out)
    except duckdb.InvalidInputException as e:  # corrupt pages, bad encodings
        raise UsageError("vault.bad_parquet", f"{src.name} could not be read: {e}") from None


# --- Excel -----------------------------------------------------------------------------------


def _excel_to_csv(src: Path, out: Path) -> list[str]:
    """Stream the workbook's one sheet with data into a UTF-8 CSV; its first non-empty row is
    the header. Several sheets with data are refused: reading only one would silently leave the
    others (and any personal data in them) unscanned."""
    import openpyxl  # imported lazily: it is slow to import and only Excel needs it

    try:
        wb = openpyxl.load_workbook(src, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many unrelated types for corrupt files
        raise UsageError("vault.bad_excel", f"{src.name} could not be opened as .xlsx: {e}") \
            from None
    sheet = "the workbook"
    try:
        with_data = []
        for ws in wb.worksheets:  # chart sheets are not in .worksheets: they hold no cells
            sheet = f"sheet {ws.title!r}"
            if _has_data(ws):
                with_data.append(ws)
        if not with_data:
            raise UsageError("vault.empty_file", f"{src.name}: every sheet is empty")
        if len(with_data) > 1:
            raise _many_sheets(src, [ws.title for ws in with_data])
        ws = with_data[0]
        sheet = f"sheet {ws.title!r}"
        with out.open("w", encoding="utf-8", newline="") as f:
            return _write_sheet(ws, csv.writer(f, lineterminator="\n"))
    except UsageError:
        raise
    except Exception as e:
        raise UsageError("vault.bad_excel", f"{src.name}: {sheet} is unreadable: {e}") from None
    finally:
        wb.close()


def _has_data(ws) -> bool:
    # Stops at the first non-empty row; an empty sheet (even one with many formatted rows) is
    # streamed to its end, in read-only mode, so memory stays flat.
    return next(_nonblank_rows(ws.iter_rows(values_only=True)), None) is not None


def _many_sheets(src: Path, titles: list[str]) -> UsageError:
    shown = ", ".join(repr(t) for t in titles[:10])
    if len(titles) > 10:
        shown += f" and {len(titles) - 10} more"
    return UsageError(
        "vault.many_sheets",
        f"{src.name} has {len(titles)} sheets with data ({shown}); one upload is one table: "
        "save each sheet as its own file (CSV or .xlsx) and add them one by one, or delete the "
        "sheets that are not part of this data")


def _write_sheet(ws, writer) -> list[str]:
    rows = _nonblank_rows(ws.iter_rows(values_only=True))
    first = next(rows, None)
    if first is None:
        raise UsageError("vault.empty_file", f"sheet {ws.title!r} is empty")
    _, header_cells = first
    header = _check_names([_cell_text(c) for c in _rstrip_none(header_cells)])
    writer.writerow(header)
    width = len(header)
    for number, cells in rows:
        if any(c is not None for c in cells[width:]):
            raise UsageError(
                "vault.ragged_rows",
                f"sheet {ws.title!r} row {number} has values to the right of the last header "
                "column; give those columns a header or delete them")
        texts = [_cell_text(c) for c in cells[:width]]
        writer.writerow(texts + [""] * (width - len(texts)))
    return header


def _nonblank_rows(rows: Iterable[tuple]) -> Iterator[tuple[int, tuple]]:
    # Sheets often carry formatted-but-empty rows; they are not data.
    for number, cells in enumerate(rows, start=1):
        if any(c is not None and _cell_text(c) != "" for c in cells):
            yield number, cells


def _rstrip_none(cells: tuple) -> tuple:
    end = len(cells)
    while end and (cells[end - 1] is None or _cell_text(cells[end - 1]) == ""):
        end -= 1
    return cells[:end]


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # Excel stores every number as a double: 3.0 was typed as 3
    return str(value)


# --- files -----------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make the rename durable; some platforms cannot open or fsync a directory."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
