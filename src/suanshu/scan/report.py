"""The scan report (DESIGN §5 contract) over Arrow data, streamed batch by batch.

Shape::

    {"source", "encoding", "rows", "grade",
     "columns": [{"name", "types": [{"type", "cells", "ratio"}], "pi", "grade", "evidence",
                  "categories", "quality"}],
     "findings": [{"row", "column", "type", "start", "end"}],
     "findings_total", "findings_truncated", "dataset", "sampled"}

The DESIGN §5 keys come first and keep their meaning; ``evidence``, ``categories`` (the PIPL /
GB/T 35273 classes), ``quality`` (the column profile, ``scan/quality.py``), ``dataset`` (the
GB/T 43697 summary) and ``sampled`` are additions.

``row`` is 0-based over data rows; ``start``/``end`` are character offsets in the cell text;
``ratio`` = cells with at least one finding of that type / non-null cells of the column.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from suanshu.scan import anonymity, classify, quality
from suanshu.scan.detectors import TYPES, detectors_for, scan_array
from suanshu.vault.ingest import ingest_file

BATCH_ROWS = 64 * 1024


def scan_path(path: Path, *, max_findings: int | None = None, sample: int | None = None,
              k_anonymity: list[str] | None = None,
              progress: Callable[[int, int], None] | None = None) -> dict:
    """Scan a CSV / Parquet / xlsx file, read exactly as ``vault.ingest`` reads it (same
    encodings, delimiters and types), through a temporary Parquet file.

    ``sample``: scan only the first N rows (a quick column classification; the report says
    ``"sampled": true``). ``k_anonymity``: quasi-identifier columns whose k the report gives
    (over all rows). ``progress(rows_done, rows_total)`` is called after every batch."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="suanshu-scan-") as tmp:
        ingested = ingest_file(path, Path(tmp) / "data.parquet")
        report = scan_parquet(Path(tmp) / "data.parquet", source=str(path),
                              encoding=ingested.encoding, max_findings=max_findings,
                              sample=sample, progress=progress)
        if k_anonymity:
            report["k_anonymity"] = anonymity.k_anonymity(Path(tmp) / "data.parquet", k_anonymity)
        return report


def scan_parquet(path: Path, *, source: str, encoding: str | None,
                 max_findings: int | None = None, sample: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Scan an ingested Parquet file, one record batch at a time."""
    with pq.ParquetFile(path) as pf:
        total = pf.metadata.num_rows if sample is None else min(sample, pf.metadata.num_rows)
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            progress(min(done[0], total), total)

        return _scan(pf.schema_arrow.names, pf.iter_batches(batch_size=BATCH_ROWS),
                     source=source, encoding=encoding, max_findings=max_findings, sample=sample,
                     progress=step if progress else None,
                     distinct=None if sample is not None else lambda cols: quality.exact_distinct(path, cols))


def scan_table(table_or_batches, *, source: str, encoding: str | None,
               max_findings: int | None = None, sample: int | None = None,
               findings_as: str = "dicts") -> dict:
    """Scan a ``pa.Table``, a ``pa.RecordBatch``, a ``RecordBatchReader`` or an iterable of
    record batches (consumed once, one batch in memory at a time).

    ``findings_as="arrow"``: ``findings`` is a ``pa.Table`` (row, column, type, start, end) rather
    than a list of dicts — the same content without a Python object per finding."""
    names, batches = _as_batches(table_or_batches)
    return _scan(names, batches, source=source, encoding=encoding, max_findings=max_findings,
                 sample=sample, findings_as=findings_as)


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
          encoding: str | None, max_findings: int | None, sample: int | None = None,
          progress: Callable[[int], None] | None = None,
          distinct: Callable[[list[str]], dict[str, int]] | None = None, findings_as: str = "dicts") -> dict:
    non_null = [0] * len(names)
    cells: list[Counter] = [Counter() for _ in names]
    profiles = [quality.Profile() for _ in names]
    chosen = [detectors_for(card_header=classify.names_card(n)) for n in names]
    kept: list[tuple[np.ndarray, ...]] = []  # (row, column, type, start, end) chunks, reading order
    total = rows = listed = 0
    for batch in batches:
        if sample is not None and rows >= sample:
            break
        if sample is not None and rows + batch.num_rows > sample:
            batch = batch.slice(0, sample - rows)
        found = []  # per column: (rows, column index, starts, ends, type indices)
        for ci, column in enumerate(batch.columns):
            profiles[ci].add(column)
            text = _as_text(column)
            non_null[ci] += len(text) - text.null_count
            # Names and addresses are words: numbers, dates and booleans cannot hold them.
            use = chosen[ci] if _is_text(column.type) else detectors_for(classify.names_card(names[ci]), text=False)
            hits = scan_array(text, use)
            if len(hits):
                # cells with at least one finding of a type = distinct (row, type) pairs
                pairs = np.unique(hits.rows * len(TYPES) + hits.types)
                cells[ci].update({TYPES[t]: int(n) for t, n in
                                  zip(*np.unique(pairs % len(TYPES), return_counts=True))})
                found.append((hits.rows + rows, np.full(len(hits), ci), hits.starts, hits.ends, hits.types))
        if found:
            r, c, s, e, t = (np.concatenate(x) for x in zip(*found))
            order = np.lexsort((s, c, r))  # reading order: row, then column, then offset
            total += len(order)
            room = len(order) if max_findings is None else max(0, max_findings - listed)
            order = order[:room]
            if len(order):
                kept.append((r[order], c[order], t[order], s[order], e[order]))
                listed += len(order)
        rows += batch.num_rows
        if progress is not None:
            progress(batch.num_rows)
    overflow = [names[ci] for ci, p in enumerate(profiles) if not p.exact]
    if overflow and distinct is not None:  # too many values to keep: count them exactly elsewhere
        counts = distinct(overflow)
        for ci, name in enumerate(names):
            if name in counts:
                profiles[ci].distinct = counts[name]
    columns = [_column(name, non_null[ci], cells[ci], profiles[ci]) for ci, name in enumerate(names)]
    findings = _findings(kept, names, findings_as)
    return {
        "source": source,
        "encoding": encoding,
        "rows": rows,
        "grade": classify.dataset_grade(columns),
        "columns": columns,
        "findings": findings,
        "findings_total": total,
        "findings_truncated": total > listed,
        # additions after the DESIGN §5 keys
        "dataset": classify.dataset_summary(columns, rows),
        "sampled": sample is not None,
    }


def _findings(kept: list[tuple[np.ndarray, ...]], names: list[str], findings_as: str):
    """The listed findings as one Arrow table, or as the contract's list of dicts."""
    r, c, t, s, e = (np.concatenate(x) for x in zip(*kept)) if kept else ([],) * 5
    if findings_as == "arrow":
        return pa.table({
            "row": pa.array(r, pa.int64()),
            "column": pa.DictionaryArray.from_arrays(pa.array(c, pa.int32()), pa.array(names, pa.string())),
            "type": pa.DictionaryArray.from_arrays(pa.array(t, pa.int32()), pa.array(TYPES, pa.string())),
            "start": pa.array(s, pa.int64()), "end": pa.array(e, pa.int64())})
    columns, types = list(names), list(TYPES)
    return [{"row": rr, "column": columns[cc], "type": types[tt], "start": ss, "end": ee}
            for rr, cc, tt, ss, ee in zip(*(np.asarray(x).tolist() for x in (r, c, t, s, e)))]


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _as_text(column: pa.Array) -> pa.Array:
    """The column as strings: numbers, dates and times are scanned in their text form."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # nested or binary data: Python's text form is good enough to look for identifiers
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _column(name: str, non_null: int, cells: Counter, profile: quality.Profile) -> dict:
    types = [
        {"type": t, "cells": n, "ratio": round(n / non_null, 4) if non_null else 0.0}
        for t, n in sorted(cells.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    label = classify.classify_column(name, dict(cells), non_null)
    return {"name": name, "types": types, **label, "quality": profile.result(types)}
