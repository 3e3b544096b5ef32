"""The scan report (DESIGN §5 contract) over Arrow data, streamed batch by batch.

Shape::

    {"source", "encoding", "rows", "grade",
     "columns": [{"name", "types": [{"type", "cells", "ratio"}], "pi", "grade", "evidence"}],
     "findings": [{"row", "column", "type", "start", "end"}],
     "findings_total", "findings_truncated"}

``row`` is 0-based over data rows; ``start``/``end`` are character offsets in the cell text;
``ratio`` = cells with at least one finding of that type / non-null cells of the column.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from suanshu.scan import classify
from suanshu.scan.detectors import DETECTORS, detect
from suanshu.vault.ingest import ingest_file

BATCH_ROWS = 64 * 1024


def scan_path(path: Path, *, max_findings: int | None = None) -> dict:
    """Scan a CSV / Parquet / xlsx file, read exactly as ``vault.ingest`` reads it (same
    encodings, delimiters and types), through a temporary Parquet file."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="suanshu-scan-") as tmp:
        ingested = ingest_file(path, Path(tmp) / "data.parquet")
        return scan_parquet(Path(tmp) / "data.parquet", source=str(path),
                            encoding=ingested.encoding, max_findings=max_findings)


def scan_parquet(path: Path, *, source: str, encoding: str | None,
                 max_findings: int | None = None) -> dict:
    """Scan an ingested Parquet file, one record batch at a time."""
    with pq.ParquetFile(path) as pf:
        return _scan(pf.schema_arrow.names, pf.iter_batches(batch_size=BATCH_ROWS),
                     source=source, encoding=encoding, max_findings=max_findings)


def scan_table(table_or_batches, *, source: str, encoding: str | None,
               max_findings: int | None = None) -> dict:
    """Scan a ``pa.Table``, a ``pa.RecordBatch``, a ``RecordBatchReader`` or an iterable of
    record batches (consumed once, one batch in memory at a time)."""
    names, batches = _as_batches(table_or_batches)
    return _scan(names, batches, source=source, encoding=encoding, max_findings=max_findings)


def _as_batches(data) -> tuple[list[str], Iterable[pa.RecordBatch]]:
    if isinstance(data, pa.Table):
        return data.schema.names, data.to_batches(max_chunksize=BATCH_ROWS)
    if isinstance(data, pa.RecordBatch):
        return data.schema.names, [data]
    if isinstance(data, pa.RecordBatchReader):
        return data.schema.names, data
    it = iter(data)
    first = next(it, None)
    if first is None:
        return [], []
    return first.schema.names, _chain(first, it)


def _chain(first: pa.RecordBatch, rest: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    yield first
    yield from rest


def _scan(names: list[str], batches: Iterable[pa.RecordBatch], *, source: str,
          encoding: str | None, max_findings: int | None) -> dict:
    non_null = [0] * len(names)
    cells: list[Counter] = [Counter() for _ in names]
    findings: list[dict] = []
    total = rows = 0
    for batch in batches:
        found = []  # (row, column index, match) for this batch
        for ci, column in enumerate(batch.columns):
            text = _as_text(column)
            non_null[ci] += len(text) - text.null_count
            for i, matches in _scan_column(text):
                cells[ci].update({m.type for m in matches})
                found.extend((rows + i, ci, m) for m in matches)
        found.sort(key=lambda f: (f[0], f[1], f[2].start))  # report in reading order
        total += len(found)
        room = len(found) if max_findings is None else max(0, max_findings - len(findings))
        findings.extend(
            {"row": r, "column": names[ci], "type": m.type, "start": m.start, "end": m.end}
            for r, ci, m in found[:room])
        rows += batch.num_rows
    columns = [_column(name, non_null[ci], cells[ci]) for ci, name in enumerate(names)]
    return {
        "source": source,
        "encoding": encoding,
        "rows": rows,
        "grade": classify.dataset_grade(columns),
        "columns": columns,
        "findings": findings,
        "findings_total": total,
        "findings_truncated": total > len(findings),
    }


def _scan_column(text: pa.Array) -> Iterator[tuple[int, list]]:
    """(row in batch, matches) for the cells with findings.

    Each detector's RE2 hint runs over the whole column in Arrow; a cell reaches Python only if
    some hint matched, and then meets only the detectors whose hint matched. Cells are grouped by
    the set of matching hints, so each group runs one tight loop with a fixed detector list.
    """
    code = np.zeros(len(text), dtype=np.int64)
    for bit, detector in enumerate(DETECTORS):
        hits = pc.match_substring_regex(text, detector.hint).fill_null(False)
        code |= hits.to_numpy(zero_copy_only=False).astype(np.int64) << bit
    for pattern in np.unique(code[code > 0]).tolist():
        active = tuple(d for bit, d in enumerate(DETECTORS) if pattern >> bit & 1)
        rows = np.flatnonzero(code == pattern)
        for i, value in zip(rows.tolist(), text.take(pa.array(rows)).to_pylist()):
            if matches := detect(value, active):
                yield i, matches


def _as_text(column: pa.Array) -> pa.Array:
    """The column as strings: numbers, dates and times are scanned in their text form."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # nested or binary data: Python's text form is good enough to look for identifiers
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _column(name: str, non_null: int, cells: Counter) -> dict:
    types = [
        {"type": t, "cells": n, "ratio": round(n / non_null, 4) if non_null else 0.0}
        for t, n in sorted(cells.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    label = classify.classify_column(name, dict(cells))
    return {"name": name, "types": types, **label}
