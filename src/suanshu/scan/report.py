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

Memory is bounded by the batch, not the file: per column the scan keeps counters, a capped set of
distinct values (``quality.DISTINCT_CAP``) and min/max. Findings are the one thing that grows
with the file (a 2 GB table holds tens of millions), so a caller that wants them all passes a
``FindingsSpill``: each batch's findings go to an Arrow IPC file on disk, and ``write_json``
streams the report with them (the CLI does this); otherwise ``max_findings`` caps the list.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from suanshu.scan import anonymity, classify, pool, quality
from suanshu.scan.detectors import TYPES, detectors_for, engine, scan_array
from suanshu.vault.ingest import ingest_file

BATCH_ROWS = 64 * 1024


def scan_path(path: Path, *, max_findings: int | None = None, sample: int | None = None,
              k_anonymity: list[str] | None = None,
              progress: Callable[[int, int], None] | None = None,
              spill: FindingsSpill | None = None, workers: int | None = None) -> dict:
    """Scan a CSV / Parquet / xlsx file, read exactly as ``vault.ingest`` reads it (same
    encodings, delimiters and types), through a temporary Parquet file.

    ``sample``: scan only the first N rows (a quick column classification; the report says
    ``"sampled": true``). ``k_anonymity``: quasi-identifier columns whose k the report gives
    (over all rows). ``progress(rows_done, rows_total)`` is called after every batch.
    ``spill``: findings go there instead of ``report["findings"]`` (see ``write_json``).
    ``workers``: processes that scan batches side by side (None: every usable core; see
    ``scan_parquet``)."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="suanshu-scan-") as tmp:
        ingested = ingest_file(path, Path(tmp) / "data.parquet")
        report = scan_parquet(Path(tmp) / "data.parquet", source=str(path),
                              encoding=ingested.encoding, max_findings=max_findings,
                              sample=sample, progress=progress, spill=spill, workers=workers)
        if k_anonymity:
            report["k_anonymity"] = anonymity.k_anonymity(Path(tmp) / "data.parquet", k_anonymity)
        return report


def scan_parquet(path: Path, *, source: str, encoding: str | None,
                 max_findings: int | None = None, sample: int | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 spill: FindingsSpill | None = None, workers: int | None = None) -> dict:
    """Scan an ingested Parquet file, one record batch at a time. ``workers``: processes that
    scan batches side by side (``scan/pool.py``; None: every usable core). One batch, or
    ``workers=1``, scans in this process; the report is the same either way."""
    # pre_buffer=False: with it, iter_batches keeps every byte range it has read until the
    # reader closes, so Arrow's pool grew ~10 MB per batch (the whole compressed file, in the end).
    with pq.ParquetFile(path, pre_buffer=False) as pf:
        total = pf.metadata.num_rows if sample is None else min(sample, pf.metadata.num_rows)
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            progress(min(done[0], total), total)

        runs = _runs(pf, total)
        workers = pool.usable_cores() if workers is None else workers
        jobs = _jobs(runs, workers)
        workers = min(workers, len(jobs))
        if workers > 1:  # each worker reads its part of the file itself
            scans = _in_workers(_scan_run, ((str(path), *job, BATCH_ROWS) for job in jobs), workers)
        else:
            scans = _in_process(itertools.chain.from_iterable(
                _run_batches(pf, groups, rows, BATCH_ROWS) for groups, rows in runs), None)
        return _scan(pf.schema_arrow.names, scans,
                     source=source, encoding=encoding, max_findings=max_findings, sample=sample,
                     progress=step if progress else None, spill=spill,
                     distinct=None if sample is not None else lambda cols: quality.exact_distinct(path, cols))


def _runs(pf: pq.ParquetFile, total: int) -> list[tuple[list[int], int]]:
    """The file's row groups in runs of consecutive groups holding at least ``BATCH_ROWS`` rows
    (the unit a worker reads unless ``_jobs`` splits it), each with the rows to scan in it
    (the first ``total`` rows of the file). One process scans the same runs, so batches start at
    the same rows either way."""
    runs, groups, held, done = [], [], 0, 0
    for g in range(pf.metadata.num_row_groups):
        if done >= total:
            break
        groups.append(g)
        held += pf.metadata.row_group(g).num_rows
        if held >= BATCH_ROWS or g == pf.metadata.num_row_groups - 1:
            runs.append((groups, min(held, total - done)))
            done += runs[-1][1]
            groups, held = [], 0
    return runs


def _jobs(runs: list[tuple[list[int], int]], workers: int) -> list[tuple[list[int], int, int, int | None]]:
    """What each worker reads: (row groups, rows to scan in them, batches to skip, batches to
    take; None: all). A run each; with fewer runs than workers (a vault file of one row group
    holds up to ``ROW_GROUP_ROWS``), a run of one row group is split into a job per batch, each
    worker decoding the batches before its own (cheap next to scanning them). Batches start at
    the same rows as in one process either way."""
    jobs = []
    for groups, rows in runs:
        if len(runs) < workers and len(groups) == 1:
            jobs += [(groups, rows, k, 1) for k in range(-(-rows // BATCH_ROWS))]
        else:
            jobs.append((groups, rows, 0, None))
    return jobs


def _run_batches(pf: pq.ParquetFile, groups: list[int], rows: int, batch_rows: int,
                 skip: int = 0, take: int | None = None) -> Iterator[pa.RecordBatch]:
    batches = _limited(pf.iter_batches(batch_size=batch_rows, row_groups=groups), rows)
    return itertools.islice(batches, skip, None if take is None else skip + take)


def scan_table(table_or_batches, *, source: str, encoding: str | None,
               max_findings: int | None = None, sample: int | None = None,
               findings_as: str = "dicts", spill: FindingsSpill | None = None,
               workers: int | None = 1) -> dict:
    """Scan a ``pa.Table``, a ``pa.RecordBatch``, a ``RecordBatchReader`` or an iterable of
    record batches (consumed once, one batch in memory at a time).

    ``findings_as="arrow"``: ``findings`` is a ``pa.Table`` (row, column, type, start, end) rather
    than a list of dicts — the same content without a Python object per finding. ``spill``:
    findings go to disk instead (``write_json``). ``workers``: processes that scan batches side
    by side (``scan/pool.py``); the default scans in this process; None: every usable core for
    more than one batch (a table never gets more workers than batches)."""
    names, batches = _as_batches(table_or_batches)
    if isinstance(table_or_batches, pa.Table):
        workers = min(pool.usable_cores() if workers is None else workers,
                      -(-table_or_batches.num_rows // BATCH_ROWS))
    elif workers is None:
        batches, more = _peek_second(batches)
        workers = pool.usable_cores() if more else 1
    if workers > 1:
        scans = _in_workers(_scan_ipc, (_ipc(b) for b in _limited(batches, sample)), workers)
    else:
        scans = _in_process(batches, sample)
    return _scan(names, scans, source=source, encoding=encoding, max_findings=max_findings,
                 sample=sample, findings_as=findings_as, spill=spill)


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
    return first.schema.names, itertools.chain([first], it)


def _peek_second(batches: Iterable[pa.RecordBatch]) -> tuple[Iterator[pa.RecordBatch], bool]:
    """The same batches, and whether there are two or more (one batch is scanned in-process:
    starting workers for it costs more than it saves). Reads at most two batches ahead."""
    it = iter(batches)
    head = list(itertools.islice(it, 2))
    return itertools.chain(head, it), len(head) > 1


def _limited(batches: Iterable[pa.RecordBatch], sample: int | None) -> Iterator[pa.RecordBatch]:
    """The batches, cut at ``sample`` rows when given."""
    rows = 0
    for batch in batches:
        if sample is not None:
            if rows >= sample:
                return
            batch = batch.slice(0, sample - rows)
        rows += batch.num_rows
        yield batch


def _detectors(name: str, column_type: pa.DataType):
    # Names and addresses are words: numbers, dates and booleans cannot hold them.
    return detectors_for(card_header=classify.names_card(name), text=_is_text(column_type),
                         id_header=classify.names_resident_id(name))


def scan_batch(batch: pa.RecordBatch, distinct: list[bool]) -> list[tuple[engine.Found, quality.Profile]]:
    """Each column's findings and profile in one batch; ``distinct``: per column, whether its
    distinct values are still wanted. What a scan worker runs (``scan/pool.py``)."""
    return [_scan_column(name, column, wanted)
            for name, column, wanted in zip(batch.schema.names, batch.columns, distinct, strict=True)]


# Scans as ``scans(wanted)``: an iterator of (rows, per-column findings and profiles) for each
# batch in order, where ``wanted()`` says which columns still count their distinct values (read
# when a batch is handed out, so a worker counts them only while they are wanted).
Scans = Callable[[Callable[[], list[bool]]], Iterator[tuple[int, list]]]


def _in_process(batches: Iterable[pa.RecordBatch], sample: int | None) -> Scans:
    def scans(wanted):
        for batch in _limited(batches, sample):
            yield batch.num_rows, scan_batch(batch, wanted())
    return scans


def _in_workers(fn: Callable, jobs: Iterator, workers: int) -> Scans:
    """``fn((job, wanted))`` in worker processes, each giving (rows, per-column results) for the
    batches of its job; the caller merges the current batch while the workers scan those ahead
    (``scan/pool.py``)."""
    def scans(wanted):
        for future in pool.ahead(fn, ((job, wanted()) for job in jobs), workers):
            yield from pool.result(future)
    return scans


def _scan_ipc(job: tuple[pa.Buffer, list[bool]]) -> list[tuple[int, list]]:
    """``scan_batch`` on a batch sent as Arrow IPC (``_ipc``)."""
    data, distinct = job
    batch = pa.ipc.open_stream(data).read_next_batch()
    return [(batch.num_rows, scan_batch(batch, distinct))]


def _ipc(batch: pa.RecordBatch) -> pa.Buffer:
    """The batch as an Arrow IPC stream, for a worker: only the batch's own bytes (pickling a
    slice of a larger table sends the whole table's buffers)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def _scan_run(job: tuple[tuple[str, list[int], int, int, int, int | None], list[bool]]) -> list[tuple[int, list]]:
    """``scan_batch`` on each batch of a job (``_jobs``), read here (in a worker)."""
    (path, groups, rows, skip, take, batch_rows), distinct = job
    with pq.ParquetFile(path, pre_buffer=False) as pf:
        return [(b.num_rows, scan_batch(b, distinct))
                for b in _run_batches(pf, groups, rows, batch_rows, skip, take)]


def _scan_column(name: str, column: pa.Array, distinct: bool) -> tuple[engine.Found, quality.Profile]:
    text = _as_text(column)
    # a column that repeats its values is scanned and profiled by its distinct values
    encoded = engine.repeated(text)
    profile = quality.Profile.of(column, encoded if text is column else None, distinct=distinct, text=text)
    return scan_array(text, _detectors(name, column.type), encoded), profile


def _scan(names: list[str], scans: Scans, *, source: str,
          encoding: str | None, max_findings: int | None, sample: int | None = None,
          progress: Callable[[int], None] | None = None,
          distinct: Callable[[list[str]], dict[str, int]] | None = None, findings_as: str = "dicts",
          spill: FindingsSpill | None = None) -> dict:
    cells: list[Counter] = [Counter() for _ in names]
    profiles = [quality.Profile() for _ in names]
    kept: list[tuple[np.ndarray, ...]] = []  # (row, column, type, start, end) chunks, reading order
    total = rows = listed = 0
    for batch_rows, per_column in scans(lambda: [p.exact for p in profiles]):
        for ci, (_, profile) in enumerate(per_column):
            profiles[ci].merge(profile)
        found = []  # per column: (rows, column index, starts, ends, type indices)
        for ci, (hits, _) in enumerate(per_column):
            if len(hits):
                cells[ci].update(_cells_per_type(hits.rows, hits.types, batch_rows))
                found.append((hits.rows + rows, np.full(len(hits), ci), hits.starts, hits.ends, hits.types))
        if found:
            r, c, s, e, t = (np.concatenate(x) for x in zip(*found))
            order = np.lexsort((s, c, r))  # reading order: row, then column, then offset
            total += len(order)
            room = len(order) if max_findings is None else max(0, max_findings - listed)
            order = order[:room]
            if len(order):
                chunk = (r[order], c[order], t[order], s[order], e[order])
                if spill is not None:
                    spill.add(*chunk)  # to disk: nothing per finding stays in memory
                else:
                    kept.append(chunk)
                listed += len(order)
        rows += batch_rows
        if progress is not None:
            progress(batch_rows)
    overflow = [names[ci] for ci, p in enumerate(profiles) if not p.exact]
    if overflow and distinct is not None:  # too many values to keep: count them exactly elsewhere
        counts = distinct(overflow)
        for ci, name in enumerate(names):
            if name in counts:
                profiles[ci].distinct = counts[name]
    columns = [_column(name, p.rows - p.nulls, cells[ci], p) for ci, (name, p) in enumerate(zip(names, profiles))]
    findings = spill if spill is not None else _findings(kept, names, findings_as)
    if spill is not None:
        spill.close(names)
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


def _cells_per_type(rows: np.ndarray, types: np.ndarray, n: int) -> dict[str, int]:
    """Cells with at least one finding of each type: the distinct (row, type) pairs, marked in a
    (rows x types) bitmap and counted per type (10x less than ``np.unique``'s sort of the pairs)."""
    mark = np.zeros(n * len(TYPES), dtype=bool)
    mark[rows * len(TYPES) + types] = True
    per_type = np.bincount(np.flatnonzero(mark) % len(TYPES), minlength=len(TYPES))
    return {TYPES[t]: int(per_type[t]) for t in np.flatnonzero(per_type).tolist()}


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
    label = classify.classify_column(name, dict(cells), non_null, values=profile.values)
    return {"name": name, "types": types, **label, "quality": profile.result(types)}


_SPILL_SCHEMA = pa.schema([("row", pa.int64()), ("column", pa.int32()), ("type", pa.int32()),
                          ("start", pa.int64()), ("end", pa.int64())])
JSON_CHUNK = 64 * 1024  # findings rendered at a time by ``write_json``


class FindingsSpill:
    """Findings written to an Arrow IPC stream file batch by batch, read back by ``write_json``:
    memory holds one batch's findings, however many the file has."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer = pa.ipc.new_stream(str(self.path), _SPILL_SCHEMA)
        self.names: list[str] = []

    def add(self, rows, columns, types, starts, ends) -> None:
        self._writer.write_batch(pa.record_batch(
            [pa.array(np.asarray(x), f.type) for x, f in zip((rows, columns, types, starts, ends),
                                                             _SPILL_SCHEMA, strict=True)],
            schema=_SPILL_SCHEMA))

    def close(self, names: list[str]) -> None:
        self.names = list(names)
        self._writer.close()

    def json_chunks(self) -> Iterator[bytes]:
        """The findings as the contract's JSON objects, ``,\n`` before each, UTF-8, rendered by
        Arrow kernels (no Python object per finding)."""
        names = pa.array([json.dumps(n, ensure_ascii=False) for n in self.names], pa.string())
        types = pa.array([json.dumps(t) for t in TYPES], pa.string())
        with pa.ipc.open_stream(str(self.path)) as reader:
            for batch in reader:
                for at in range(0, batch.num_rows, JSON_CHUNK):
                    b = batch.slice(at, JSON_CHUNK)
                    text = pc.binary_join_element_wise(
                        ',\n    {"row": ', pc.cast(b["row"], pa.string()),
                        ', "column": ', names.take(b["column"]), ', "type": ', types.take(b["type"]),
                        ', "start": ', pc.cast(b["start"], pa.string()),
                        ', "end": ', pc.cast(b["end"], pa.string()), "}", "")
                    _, offsets, data = text.buffers()  # a fresh array: offset 0, one buffer
                    yield data.to_pybytes()[:int(np.frombuffer(offsets, np.int32)[len(text)])]


def write_json(report: dict, out: TextIO) -> None:
    """The report as JSON (``json.dumps(..., indent=2)`` layout), streaming the findings from a
    ``FindingsSpill`` when the report has one, so the output never sits in memory whole."""
    spill = report["findings"]
    if not isinstance(spill, FindingsSpill):
        out.write(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    mark = "\x00findings\x00"  # a placeholder no report holds, replaced by the stream
    head, tail = json.dumps(dict(report, findings=mark), ensure_ascii=False, indent=2,
                            default=str).split(json.dumps(mark))
    out.write(head + "[")
    first, wrote = True, False
    for chunk in spill.json_chunks():
        text = chunk.decode("utf-8")
        out.write(text[1:] if first else text)  # no comma before the first finding
        first, wrote = False, True
    out.write(("\n  ]" if wrote else "]") + tail + "\n")
